"""Reading what a person typed into a form."""

from starlette.datastructures import FormData


def text(form: FormData, name: str) -> str | None:
    """The field, stripped; None when it is missing or blank (a file upload is not text)."""
    value = form.get(name)
    return value.strip() if isinstance(value, str) and value.strip() else None
