"""The HTTP API: authentication, roles, and the claim routes of the interface contract."""
