"""Third parties faked at the HTTP layer, and their recorded-style fixtures."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx


class ScriptedHTTP:
    """A third party faked at the HTTP layer: answers requests in order and records them."""

    def __init__(self, *responses: httpx.Response | Exception) -> None:
        self.responses = list(responses)
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        answer = self.responses.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    def client(self) -> httpx.AsyncClient:
        """An HTTP client whose every request is answered by this script."""
        return httpx.AsyncClient(transport=httpx.MockTransport(self))


def json_fixture(folder: Path, name: str) -> dict[str, Any]:
    """Load ``folder/name.json``: a recorded-style answer or event of a third party."""
    body: dict[str, Any] = json.loads((folder / f"{name}.json").read_text())
    return body
