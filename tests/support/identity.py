"""A stand-in identity provider: real keys, a JWKS served over loopback HTTP, signed tokens."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from jwt.algorithms import ECAlgorithm, OKPAlgorithm, RSAAlgorithm

ISSUER = "https://idp.example.test/realms/bookings"
AUDIENCE = "booking-api"

PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey


@dataclass
class SigningKey:
    """A private key of the provider, with the kid and algorithm it signs under."""

    kid: str
    alg: str
    private: PrivateKey

    @classmethod
    def generate(cls, alg: str, kid: str | None = None) -> SigningKey:
        """A fresh key for ``alg`` (RS256, ES256 or EdDSA)."""
        private: PrivateKey
        if alg == "RS256":
            private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        elif alg == "ES256":
            private = ec.generate_private_key(ec.SECP256R1())
        elif alg == "EdDSA":
            private = ed25519.Ed25519PrivateKey.generate()
        else:
            raise ValueError(alg)
        return cls(kid or f"{alg.lower()}-{id(private):x}", alg, private)

    def public_jwk(self) -> dict[str, Any]:
        """The public half as the provider publishes it in its JWKS."""
        public = self.private.public_key()
        if isinstance(public, rsa.RSAPublicKey):
            jwk = RSAAlgorithm.to_jwk(public, as_dict=True)
        elif isinstance(public, ec.EllipticCurvePublicKey):
            jwk = ECAlgorithm.to_jwk(public, as_dict=True)
        else:
            jwk = OKPAlgorithm.to_jwk(public, as_dict=True)
        return {**jwk, "kid": self.kid, "use": "sig", "alg": self.alg}

    def sign(self, claims: dict[str, Any], headers: dict[str, Any] | None = None) -> str:
        """A token over ``claims``, its header naming this key."""
        return jwt.encode(
            claims, self.private, algorithm=self.alg, headers={"kid": self.kid, **(headers or {})}
        )


def claims(sub: str = "auth0|asha", ttl: int = 600, **extra: Any) -> dict[str, Any]:
    """The claims of a valid token of the provider, with ``extra`` on top."""
    now = int(time.time())
    return {"iss": ISSUER, "aud": AUDIENCE, "sub": sub, "iat": now, "exp": now + ttl, **extra}


@dataclass
class JwksServer:
    """The provider's JWKS endpoint on 127.0.0.1; what it serves can change while it runs."""

    keys: list[SigningKey]
    status: int = 200
    fetches: int = 0
    port: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def url(self) -> str:
        """The JWKS URL (plain http: loopback only)."""
        return f"http://127.0.0.1:{self.port}/.well-known/jwks.json"

    def serve(self, *keys: SigningKey) -> None:
        """Publish ``keys`` from now on (a rotation)."""
        self.keys = list(keys)

    def _answer(self) -> tuple[int, bytes]:
        with self._lock:
            self.fetches += 1
        body = json.dumps({"keys": [k.public_jwk() for k in self.keys]}).encode()
        return self.status, body if self.status == 200 else b"{}"

    @contextmanager
    def running(self) -> Iterator[JwksServer]:
        """Serve on a free port until the block ends."""
        provider = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                status, body = provider._answer()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = server.server_address[1]
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            yield self
        finally:
            server.shutdown()
            server.server_close()


@contextmanager
def silent_server() -> Iterator[str]:
    """A JWKS URL whose server accepts connections and never answers."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}/jwks"
    finally:
        listener.close()
