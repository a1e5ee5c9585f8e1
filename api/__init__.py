"""The HTTP API: routes, authentication, and the mapping of domain refusals to status codes."""
