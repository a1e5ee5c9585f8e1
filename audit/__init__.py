"""The tamper-evident audit trail: sealing claim events into per-claim hash chains, and checking them."""
