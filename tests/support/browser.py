"""A browser, a full stack and a host application on another origin, for the page's tests.

The stack is ``booking-engine dev`` on free ports (real HTTP: the API, the
sandbox checkout, the SMTP sink). The host is a tiny web server on a port of
its own, so the booking page it embeds calls the API across origins
(``BOOKING_CORS_ORIGINS`` names it). The browser is Debian's chromium, driven
headless by Playwright; none is downloaded.
"""

from __future__ import annotations

import json
import os
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx

from stack.embedded import free_port

from support.auth import OPERATOR

CHROMIUM = Path("/usr/bin/chromium")
ROOT = Path(__file__).resolve().parents[2]


def artifacts() -> Path:
    """Where screenshots go: ``BOOKING_TEST_ARTIFACTS``, else ``tests/browser/artifacts``."""
    path = Path(os.environ.get("BOOKING_TEST_ARTIFACTS") or ROOT / "tests/browser/artifacts")
    path.mkdir(parents=True, exist_ok=True)
    return path


HOST_PAGE = """<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <title>Example Clinic: book</title>
  <link rel="stylesheet" href="{api}/static/booking/style.css">
</head>
<body>
  <header style="padding:1rem 2rem;background:#123;color:#fff">Example Clinic</header>
  <main id="booking-page" data-api="{api}" data-resource-id="{resource_id}"
        data-token-url="/booking-token"></main>
  <script type="module" src="{api}/static/booking/app.js"></script>
</body>
</html>
"""


class Host:
    """The host application: ``/book/{resource_id}`` embeds the page; ``/booking-token``."""

    def __init__(self, api: str) -> None:
        self.api = api
        self.port = free_port()
        self.origin = f"http://127.0.0.1:{self.port}"
        self.token: str | None = None  # the signed-in customer's

    def page_url(self, resource_id: str) -> str:
        return f"{self.origin}/book/{resource_id}"

    def handler(self) -> type[BaseHTTPRequestHandler]:
        host = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                path = self.path.split("?")[0]
                if path == "/booking-token":
                    self._send("application/json", json.dumps({"token": host.token}))
                elif path.startswith("/book/"):
                    resource_id = path.removeprefix("/book/")
                    page = HOST_PAGE.format(api=host.api, resource_id=resource_id)
                    self._send("text/html", page)
                else:
                    self.send_error(404)

            def _send(self, kind: str, body: str) -> None:
                data = body.encode()
                self.send_response(200)
                self.send_header("Content-Type", f"{kind}; charset=utf-8")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        return Handler


@contextmanager
def serving(host: Host) -> Iterator[Host]:
    """The host application, served on its own port until the block ends."""
    server = ThreadingHTTPServer(("127.0.0.1", host.port), host.handler())
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield host
    finally:
        server.shutdown()
        server.server_close()


async def funded_customer(api: httpx.AsyncClient, amount: int = 200000) -> uuid.UUID:
    """A new customer whose wallet an operator credited with ``amount`` INR minor units."""
    customer = uuid.uuid4()
    credited = await api.post(
        f"/v1/wallets/{customer}/credits",
        json={"amount": {"amount": amount, "currency": "INR"}, "reason": "browser test"},
        headers={**OPERATOR, "Idempotency-Key": str(uuid.uuid4())},
    )
    assert credited.status_code == 201, credited.text
    return customer
