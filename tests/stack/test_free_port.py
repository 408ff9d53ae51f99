"""Ports for the stack's servers never come from the kernel's ephemeral range."""

from __future__ import annotations

import socket
from pathlib import Path

from stack.embedded import free_port


def _ephemeral() -> range:
    low, high = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()
    return range(int(low), int(high) + 1)


def test_a_free_port_is_bindable_and_outside_the_ephemeral_range() -> None:
    """An outgoing connection can never take the port between the choice and the bind."""
    ports = {free_port() for _ in range(20)}
    assert not ports & set(_ephemeral())
    for port in ports:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", port))
