"""An unknown query parameter is a 422 naming it, never silently ignored."""

from __future__ import annotations

from fastapi import Request
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute

from models.errors import BookingError, ErrorCode


def _declared(dependant: Dependant) -> set[str]:
    names = {param.alias for param in dependant.query_params}
    for sub in dependant.dependencies:
        names |= _declared(sub)
    return names


async def refuse_unknown_query_params(request: Request) -> None:
    """App-wide dependency: every query parameter must be one the route declares.

    Raises:
        BookingError: VALIDATION_ERROR naming the first unknown parameter.
    """
    route = request.scope.get("route")
    if not isinstance(route, APIRoute):
        return
    unknown = sorted(set(request.query_params) - _declared(route.dependant))
    if unknown:
        allowed = ", ".join(sorted(_declared(route.dependant))) or "none"
        raise BookingError(
            ErrorCode.VALIDATION_ERROR,
            f"{unknown[0]}: unknown query parameter (this route takes: {allowed})",
        )
