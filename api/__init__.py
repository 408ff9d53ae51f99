"""The HTTP API: starts and signals booking workflows, reads state from PostgreSQL."""
