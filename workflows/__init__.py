"""Workflow definitions: deterministic code only, no database or HTTP imports here."""
