"""Composition roots that run the stack: the CLI, the dev stack, embedded servers, the mail sink."""
