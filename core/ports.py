"""Listening sockets: a port that cannot be bound is reported by the setting that moves it.

A second worker or API on one host finds its port taken. Instead of a
traceback from deep inside the server, the process says in one line which
address failed, why, and which ``BOOKING_*`` setting to change.
"""

from __future__ import annotations

import socket


class ListenError(Exception):
    """An address this process must listen on cannot be bound."""

    def __init__(
        self, host: str, port: int, what: str, port_setting: str, host_setting: str, *, reason: str
    ) -> None:
        super().__init__(host, port, what, port_setting, host_setting, reason)
        self.host = host
        self.port = port
        self.what = what
        self.port_setting = port_setting
        self.host_setting = host_setting
        self.reason = reason

    def __str__(self) -> str:
        return (
            f"cannot serve {self.what} on {self.host}:{self.port} ({self.reason}): "
            f"set {self.port_setting} to a free port (or {self.host_setting} to another address)"
        )


def bind(host: str, port: int, what: str, port_setting: str, host_setting: str) -> socket.socket:
    """A TCP socket bound to ``host:port``, as uvicorn would bind it, ready to hand over.

    Args:
        host: The address to listen on (IPv4, IPv6 or a name).
        port: The port.
        what: What listens there, in words ("the API").
        port_setting: The setting that moves the port (``BOOKING_API_PORT``).
        host_setting: The setting that moves the address (``BOOKING_API_HOST``).

    Raises:
        ListenError: The address is taken, not local, or not allowed to this user.
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        # As uvicorn and most servers do: a port left in TIME_WAIT by a restart is free.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        reason = (exc.strerror or str(exc)).lower()
        raise ListenError(host, port, what, port_setting, host_setting, reason=reason) from None
    sock.set_inheritable(True)
    return sock


def check_listen(host: str, port: int, what: str, port_setting: str, host_setting: str) -> None:
    """Raise :class:`ListenError` unless ``host:port`` can be bound right now.

    For servers that bind their own socket, such as the Temporal SDK's metrics endpoint.
    """
    bind(host, port, what, port_setting, host_setting).close()
