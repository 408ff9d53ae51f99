"""Small rules the settings apply to values: loopback hosts, reminder offsets, secrets."""

from __future__ import annotations

import ipaddress
import secrets


def is_loopback(host: str | None) -> bool:
    """Whether ``host`` names this machine: ``localhost`` or a loopback address."""
    if host is None:
        return False
    if host.lower().rstrip(".") == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


_UNITS = {"d": 86400, "h": 3600, "m": 60, "s": 1}


def parse_offsets(value: str) -> list[int]:
    """``"24h,1h"`` as ``[86400, 3600]``: comma-separated durations in d, h, m or s.

    Raises:
        ValueError: A part is not a positive whole number followed by one of the units.
    """
    offsets = set()
    for part in filter(None, (p.strip() for p in value.split(","))):
        number, unit = part[:-1], part[-1:]
        if unit not in _UNITS or not number.isdigit() or int(number) == 0:
            raise ValueError(f"{part!r}: expected a duration such as 24h, 90m or 1d")
        offsets.add(int(number) * _UNITS[unit])
    return sorted(offsets, reverse=True)


def generate_secret() -> str:
    """A fresh random secret suitable for ``BOOKING_JWT_SECRET``."""
    return secrets.token_urlsafe(48)
