"""An unknown query parameter is a 422 naming it, never silently ignored."""

from __future__ import annotations

from fastapi import Request
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute

from models.errors import BookingError, ErrorCode


def _declared(dependant: Dependant) -> frozenset[str]:
    names = {param.alias for param in dependant.query_params}
    for sub in dependant.dependencies:
        names |= _declared(sub)
    return frozenset(names)


# Route id (its name, path and method) -> the query parameters it takes: computed once.
_DECLARED: dict[str, frozenset[str]] = {}


def _declared_by(route: APIRoute) -> frozenset[str]:
    """The query parameters a route takes, its dependencies' included (once per route)."""
    declared = _DECLARED.get(route.unique_id)
    if declared is None:
        declared = _DECLARED[route.unique_id] = _declared(route.dependant)
    return declared


async def refuse_unknown_query_params(request: Request) -> None:
    """App-wide dependency: every query parameter must be one the route declares.

    Raises:
        BookingError: VALIDATION_ERROR naming the first unknown parameter.
    """
    route = request.scope.get("route")
    if not isinstance(route, APIRoute):
        return
    declared = _declared_by(route)
    unknown = sorted(set(request.query_params) - declared)
    if unknown:
        allowed = ", ".join(sorted(declared)) or "none"
        raise BookingError(
            ErrorCode.VALIDATION_ERROR,
            f"{unknown[0]}: unknown query parameter (this route takes: {allowed})",
        )
