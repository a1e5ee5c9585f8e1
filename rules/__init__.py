"""The claim rules: plain functions over plain models, with no I/O.

They raise `DomainError` with a stable code. The workflow's validators, the service layer, the API
and the queues all ask these same functions; nothing here imports temporalio, SQLAlchemy or FastAPI.
"""
