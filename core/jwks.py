"""The identity provider's signing keys (its JWKS), fetched over HTTP and cached.

PyJWT parses the keys; this module owns when to fetch them. PyJWT's own
``PyJWKClient`` fetches with blocking ``urllib`` under a lock, limits only the
refetches that follow a successful fetch, and drops its cached set when a
refresh fails; here the fetch is async (httpx, one deadline for the whole
request) and every rule is about not hurting anyone:

- the set is kept :attr:`JwksKeys.max_age` seconds, then refetched on use;
- a token naming a key id the set lacks triggers a refetch (key rotation needs
  no restart), but at most one fetch starts per ``min_interval`` seconds,
  successful or not, and concurrent callers share it, so a flood of made-up key
  ids costs the provider one request per interval;
- while the provider cannot be reached, the last good set keeps serving the keys
  it holds; a key it lacks, or no set at all, is :class:`JwksUnavailable` (our
  outage, a 503), never a verdict on the token.
"""

from __future__ import annotations

import asyncio
import json
import math
import time
from collections.abc import Callable

import httpx
import jwt
import structlog

log = structlog.get_logger(__name__)

# What an identity provider's token may be signed with: never "none", never a shared
# secret (HS*), which a public key set cannot hold safely.
ALGORITHMS = frozenset({"RS256", "ES256", "EdDSA"})
# A key set is a few kilobytes; a larger answer is not one.
MAX_BYTES = 512 * 1024


class JwksUnavailable(Exception):
    """The key set cannot be fetched now; ``retry_after`` seconds until the next attempt."""

    def __init__(self, retry_after: int) -> None:
        self.retry_after = retry_after
        super().__init__(f"the identity provider's key set is unavailable; retry in {retry_after}s")


def parse_key_set(document: object) -> dict[str, jwt.PyJWK]:
    """The signing keys of a JWKS document by key id, of the accepted algorithms only.

    Keys without a ``kid``, for encryption (``use`` other than ``sig``), of
    another algorithm (a symmetric ``oct`` key would be HS256) or that PyJWT
    cannot load are left out.

    Raises:
        ValueError: The document is not a key set or holds no usable key.
    """
    if not isinstance(document, dict) or not isinstance(document.get("keys"), list):
        raise ValueError("not a JWKS document")
    keys: dict[str, jwt.PyJWK] = {}
    for raw in document["keys"]:
        if not isinstance(raw, dict) or not isinstance(raw.get("kid"), str):
            continue
        if raw.get("use", "sig") != "sig":
            continue
        try:
            key = jwt.PyJWK.from_dict(raw)
        except (jwt.PyJWKError, jwt.InvalidKeyError, ValueError, TypeError):
            continue
        if key.algorithm_name in ALGORITHMS:
            keys[raw["kid"]] = key
    if not keys:
        raise ValueError("no usable signing key")
    return keys


class JwksKeys:
    """The cached key set of one JWKS URL (one per process, shared by every request)."""

    def __init__(
        self,
        url: str,
        client: httpx.AsyncClient,
        *,
        max_age: float = 300.0,
        min_interval: float = 30.0,
        timeout: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.url = url
        self.max_age = max_age
        self.min_interval = min_interval
        self.timeout = timeout
        self.fetches = 0  # attempts made, for tests and logs
        self._client = client
        self._clock = clock
        self._lock = asyncio.Lock()
        self._keys: dict[str, jwt.PyJWK] = {}
        self._fetched_at: float | None = None
        self._attempted_at: float | None = None
        self._failing = False

    async def key(self, kid: str) -> jwt.PyJWK | None:
        """The key named ``kid``, or None when the provider's current set lacks it.

        Raises:
            JwksUnavailable: The set that would tell cannot be fetched now.
        """
        held = self._keys.get(kid)
        if held is not None and (self._fresh() or self._lock.locked() or not self._may_fetch()):
            return held
        async with self._lock:
            # Another caller may have fetched while this one waited for the lock.
            if (self._keys.get(kid) is None or not self._fresh()) and self._may_fetch():
                await self._fetch()
            found = self._keys.get(kid)
            if found is None and (self._failing or self._fetched_at is None):
                raise JwksUnavailable(self._retry_after())
            return found

    def _fresh(self) -> bool:
        return self._fetched_at is not None and self._clock() - self._fetched_at < self.max_age

    def _may_fetch(self) -> bool:
        return self._attempted_at is None or self._clock() - self._attempted_at >= self.min_interval

    def _retry_after(self) -> int:
        waited = self._clock() - (self._attempted_at or 0.0)
        return max(1, math.ceil(self.min_interval - waited))

    async def _fetch(self) -> None:
        """One bounded attempt; on failure the last good set stays."""
        self._attempted_at = self._clock()
        self.fetches += 1
        try:
            async with asyncio.timeout(self.timeout):
                keys = parse_key_set(await self._download())
        except (httpx.HTTPError, TimeoutError, ValueError) as exc:
            self._failing = True
            log.warning(
                "auth.jwks_unavailable",
                error=type(exc).__name__,
                keys_held=len(self._keys),
                retry_in=self.min_interval,
            )
            return
        rotated = set(keys) != set(self._keys)
        self._keys, self._fetched_at, self._failing = keys, self._clock(), False
        if rotated:
            log.info("auth.jwks_loaded", kids=sorted(keys))

    async def _download(self) -> object:
        async with self._client.stream(
            "GET", self.url, headers={"Accept": "application/json"}, timeout=self.timeout
        ) as response:
            response.raise_for_status()
            body = bytearray()
            async for chunk in response.aiter_bytes():
                body += chunk
                if len(body) > MAX_BYTES:
                    raise ValueError("the key set is too large")
        document: object = json.loads(body)
        return document
