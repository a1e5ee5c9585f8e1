"""The service layer: every action on claims, users and reconciliations, for every interface.

The API, the CLI's user commands, the demo seed and the drill call these functions. They ask
`rules`, talk to the database and Temporal, and raise `rules.errors.DomainError`; mapping a code
to an HTTP status or an exit status is the interface's business.
"""
