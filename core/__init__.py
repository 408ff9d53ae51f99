"""Shared infrastructure: settings, database, errors, logging, auth, CLI."""
