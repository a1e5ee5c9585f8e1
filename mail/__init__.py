"""Mail: the one parser of raw messages and the SMTP receiver (in); the names both directions agree on, and
building and sending outgoing mail (out)."""
