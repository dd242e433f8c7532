"""Errors the routers raise, shaped as FastAPI's own 404 and 422 answers."""

from __future__ import annotations

import logging
import math
from typing import Any

import psycopg
from fastapi import FastAPI, HTTPException, Request, status
from fastapi.encoders import jsonable_encoder
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from psycopg_pool import PoolTimeout
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

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


METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")


def allowed_methods(request: Request) -> list[str]:
    """Every method some route of the app answers at this request's path."""
    routes = request.app.router.routes
    return [
        method
        for method in METHODS
        if any(
            route.matches({**request.scope, "method": method})[0] is Match.FULL for route in routes
        )
    ]


async def _http_error(request: Request, exc: Exception) -> Response:
    # Starlette answers 405 from the first route whose path matches, and so names only that
    # route's methods in Allow; FastAPI makes one route per method. Name them all.
    assert isinstance(exc, StarletteHTTPException)
    if exc.status_code == status.HTTP_405_METHOD_NOT_ALLOWED:
        allow = allowed_methods(request)
        if allow:
            exc = StarletteHTTPException(exc.status_code, exc.detail, {"Allow": ", ".join(allow)})
    return await http_exception_handler(request, exc)


def _json_safe(value: Any) -> Any:
    """``value`` with non-finite numbers as text: JSON has no NaN or infinity."""
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, dict):
        return {key: _json_safe(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_json_safe(item) for item in value]
    return value


async def _request_invalid(request: Request, exc: Exception) -> Response:
    # FastAPI's own answer, but one that can say what was sent when it was 1e400 or NaN (which
    # Python's JSON reader accepts) instead of failing to encode it.
    assert isinstance(exc, RequestValidationError)
    return JSONResponse(
        status_code=status.HTTP_422_UNPROCESSABLE_CONTENT,
        content={"detail": _json_safe(jsonable_encoder(exc.errors()))},
    )


def install_handlers(app: FastAPI) -> None:
    """Answer 503, not 500, while the database is down or overloaded: it is worth a retry; a
    405 lists every method its path supports."""
    app.add_exception_handler(psycopg.OperationalError, _database_unavailable)
    app.add_exception_handler(PoolTimeout, _database_unavailable)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _request_invalid)
