"""Mail in: the one parser of raw messages, and the SMTP receiver that hands them to the intake service."""
