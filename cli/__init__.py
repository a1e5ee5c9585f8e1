"""The `guarantee` command line's parts: the HTTP client, the tables it prints, the demo seed."""
