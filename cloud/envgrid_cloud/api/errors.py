"""Errors the routers raise, shaped as FastAPI's own 404 and 422 answers."""

from __future__ import annotations

import logging

import psycopg
from fastapi import FastAPI, HTTPException, Request, status
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from psycopg_pool import PoolTimeout
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match, Route

log = logging.getLogger("envgrid.api")


def not_found(kind: str, ident: str) -> HTTPException:
    """404 naming what was looked for."""
    return HTTPException(status.HTTP_404_NOT_FOUND, detail=f"no {kind} with id {ident!r}")


def invalid(param: str, message: str, value: object, where: str = "query") -> Exception:
    """422 in the same shape as FastAPI's own validation errors, for checks it cannot make."""
    return RequestValidationError(
        [{"type": "value_error", "loc": (where, param), "msg": message, "input": value}]
    )


async def _database_unavailable(request: Request, exc: Exception) -> JSONResponse:
    log.warning("%s %s: database unavailable: %s", request.method, request.url.path, exc)
    return JSONResponse(
        status_code=status.HTTP_503_SERVICE_UNAVAILABLE,
        content={"detail": f"the database is unavailable: {exc}"},
    )


def allowed_methods(request: Request) -> list[str]:
    """Every method some route of the app answers at this request's path."""
    methods: set[str] = set()
    for route in request.app.router.routes:
        if isinstance(route, Route) and route.methods:
            match, _ = route.matches({**request.scope, "method": "GET"})
            if match is not Match.NONE:
                methods |= route.methods
    return sorted(methods)


async def _http_error(request: Request, exc: Exception) -> Response:
    # Starlette answers 405 from the first route whose path matches, and so names only that
    # route's methods in Allow; FastAPI makes one route per method. Name them all.
    assert isinstance(exc, StarletteHTTPException)
    if exc.status_code == status.HTTP_405_METHOD_NOT_ALLOWED:
        allow = allowed_methods(request)
        if allow:
            exc = StarletteHTTPException(exc.status_code, exc.detail, {"Allow": ", ".join(allow)})
    return await http_exception_handler(request, exc)


def install_handlers(app: FastAPI) -> None:
    """Answer 503, not 500, while the database is down or overloaded: it is worth a retry; a
    405 lists every method its path supports."""
    app.add_exception_handler(psycopg.OperationalError, _database_unavailable)
    app.add_exception_handler(PoolTimeout, _database_unavailable)
    app.add_exception_handler(StarletteHTTPException, _http_error)
