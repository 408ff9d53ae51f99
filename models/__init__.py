"""Data shapes: ORM tables (``models.db``) and Temporal inputs/results (``models.payloads``)."""
