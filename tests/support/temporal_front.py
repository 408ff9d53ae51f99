"""A TLS front for the Temporal dev server, as a Temporal Cloud or an mTLS cluster presents itself.

The dev server speaks gRPC in clear. :class:`TlsFront` listens on 127.0.0.1,
completes the TLS handshake with a certificate of a test CA (offering ALPN
``h2``, as gRPC requires), optionally demands a client certificate of that CA
(``ssl.CERT_REQUIRED``), and relays the bytes both ways: gRPC over HTTP/2
passes through a byte relay unchanged. A client that gets a workflow through
it spoke TLS, trusted the CA and, with ``require_client_cert``, proved itself.

:class:`Http2Headers` reads the client's side of the relayed stream and
decodes the headers of each request (HPACK), so a test sees the metadata a
server receives (``authorization``) after TLS, as the server would.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from pathlib import Path

import hpack

_PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
_HEADERS, _CONTINUATION = 0x1, 0x9
_END_HEADERS, _PADDED, _PRIORITY = 0x4, 0x8, 0x20


class Http2Headers:
    """The header blocks of an HTTP/2 client's requests, decoded as the bytes go by."""

    def __init__(self) -> None:
        self.requests: list[dict[str, str]] = []
        self._buffer = b""
        self._preface_seen = False
        self._block = b""
        self._decoder = hpack.Decoder()

    def feed(self, data: bytes) -> None:
        """Take the next bytes the client sent."""
        self._buffer += data
        if not self._preface_seen:
            if len(self._buffer) < len(_PREFACE):
                return
            assert self._buffer.startswith(_PREFACE), "not an HTTP/2 client"
            self._buffer = self._buffer[len(_PREFACE) :]
            self._preface_seen = True
        while len(self._buffer) >= 9:
            length = int.from_bytes(self._buffer[:3], "big")
            if len(self._buffer) < 9 + length:
                return
            kind, flags = self._buffer[3], self._buffer[4]
            payload = self._buffer[9 : 9 + length]
            self._buffer = self._buffer[9 + length :]
            if kind == _HEADERS:
                if flags & _PADDED:
                    payload = payload[1 : len(payload) - payload[0]]
                if flags & _PRIORITY:
                    payload = payload[5:]
                self._block = payload
            elif kind == _CONTINUATION:
                self._block += payload
            else:
                continue
            if flags & _END_HEADERS:
                # Every block goes through the one decoder: HPACK's table spans the connection.
                fields = self._decoder.decode(self._block)
                self.requests.append({str(name): str(value) for name, value in fields})
                self._block = b""


class TlsFront:
    """TLS (and optionally mTLS) on 127.0.0.1, relaying each connection to a plain upstream."""

    def __init__(
        self,
        upstream: str,
        *,
        cert_file: Path,
        key_file: Path,
        client_ca_file: Path | None = None,
        tap: bool = False,
    ) -> None:
        """``client_ca_file``: demand a client certificate signed by it; ``tap``: read headers."""
        host, _, port = upstream.rpartition(":")
        self._upstream = (host, int(port))
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(cert_file, key_file)
        context.set_alpn_protocols(["h2"])
        if client_ca_file is not None:
            context.verify_mode = ssl.CERT_REQUIRED
            context.load_verify_locations(client_ca_file)
        self._context = context
        self._tap = tap
        self._server: asyncio.Server | None = None
        self._relays: set[asyncio.Task[None]] = set()
        # Per accepted connection: the client certificate's common name ("" without one).
        self.clients: list[str] = []
        self.refused: list[str] = []  # why each handshake failed
        self.headers: list[Http2Headers] = []  # per connection, with ``tap``

    @property
    def address(self) -> str:
        """``127.0.0.1:port``, the value for ``TEMPORAL_ADDRESS``."""
        assert self._server is not None
        return f"127.0.0.1:{self._server.sockets[0].getsockname()[1]}"

    async def start(self) -> None:
        """Listen on a free port."""
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)

    async def stop(self) -> None:
        """Stop listening and cut the relayed connections."""
        if self._server is not None:
            self._server.close()
        for relay in list(self._relays):
            relay.cancel()
        await asyncio.gather(*self._relays, return_exceptions=True)
        if self._server is not None:
            await self._server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._relays.add(task)
        try:
            try:
                await writer.start_tls(self._context)
            except (ssl.SSLError, OSError) as exc:
                self.refused.append(str(exc))
                return
            self.clients.append(_common_name(writer.get_extra_info("peercert")))
            headers = Http2Headers() if self._tap else None
            if headers is not None:
                self.headers.append(headers)
            up_reader, up_writer = await asyncio.open_connection(*self._upstream)
            await asyncio.gather(_pipe(reader, up_writer, headers), _pipe(up_reader, writer, None))
        except (OSError, asyncio.IncompleteReadError, asyncio.CancelledError):
            return  # a side closed, or the front stops
        finally:
            self._relays.discard(task)
            writer.close()


async def _pipe(
    source: asyncio.StreamReader, target: asyncio.StreamWriter, headers: Http2Headers | None
) -> None:
    try:
        while data := await source.read(65536):
            if headers is not None:
                headers.feed(data)
            target.write(data)
            await target.drain()
    finally:
        with contextlib.suppress(OSError):
            target.close()


def _common_name(peer: object) -> str:
    if not isinstance(peer, dict):
        return ""
    for rdn in peer.get("subject", ()):
        for name, value in rdn:
            if name == "commonName":
                return str(value)
    return ""
