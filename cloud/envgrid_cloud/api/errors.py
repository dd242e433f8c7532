"""Errors the routers raise, shaped as FastAPI's own 404 and 422 answers."""

from __future__ import annotations

import logging

import psycopg
from fastapi import FastAPI, HTTPException, Request, status
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from psycopg_pool import PoolTimeout

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


def install_handlers(app: FastAPI) -> None:
    """Answer 503, not 500, while the database is down or overloaded: it is worth a retry."""
    app.add_exception_handler(psycopg.OperationalError, _database_unavailable)
    app.add_exception_handler(PoolTimeout, _database_unavailable)
