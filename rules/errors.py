"""A refusal in the domain's words: a stable code every interface maps (to an HTTP status, a Temporal
failure type, an exit status) and a message a person understands."""


class DomainError(Exception):
    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code
        self.message = message
