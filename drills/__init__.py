"""Drills: long runs of the real parts under failure, each a command of its own (`python -m drills.NAME`)."""
