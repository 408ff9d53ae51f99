"""Outbound adapters: payment gateways and verifiers, meeting providers, mail, booking events."""
