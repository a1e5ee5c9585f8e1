"""The domain: pydantic models of claims and their messages, the policy, and the database tables."""
