"""Mail: the names both directions agree on (`names`), building and sending outgoing mail (`out`)."""
