"""The OpenAPI document: FastAPI's, plus the answers every operation can give.

The routers document their own answers (404, 409, 422 …). What applies across the API is added
here, in one place, so that the document lists every status an operation can answer:

- 400 where a request has a body: the body is not JSON FastAPI can read (e.g. not UTF-8);
- 403 on every write under ``/api/v1`` but the login: a browser's write without its CSRF token;
- 503 everywhere but the health probe (which says why itself): the database is down or
  overloaded (``errors.install_handlers``);
- the body of each error answer: ``{"detail": "…"}``, and for every 422 FastAPI's list of
  problems (a router's own description of a 422 would otherwise drop it).
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import (
    get_openapi,
    validation_error_definition,
    validation_error_response_definition,
)

from envgrid_cloud.api import API_PREFIX
from envgrid_cloud.api.security import CSRF_HEADER

ERROR_SCHEMA = "Error"
ERROR: dict[str, Any] = {
    "title": ERROR_SCHEMA,
    "type": "object",
    "description": "What went wrong, in words",
    "properties": {"detail": {"type": "string", "title": "Detail"}},
    "required": ["detail"],
}
BAD_BODY = "The body is not JSON that can be read (malformed, or not UTF-8)"
CSRF = f"Not allowed: the role does not permit it, or a browser's write lacks `{CSRF_HEADER}`"
UNAVAILABLE = "The database is down or overloaded: try again"
WRITES = frozenset({"post", "put", "patch", "delete"})
LOGIN = f"{API_PREFIX}/auth/login"


def _content(schema: str) -> dict[str, Any]:
    return {"application/json": {"schema": {"$ref": f"#/components/schemas/{schema}"}}}


def complete(document: dict[str, Any]) -> dict[str, Any]:
    """``document`` with the answers common to many operations added (in place, and returned)."""
    schemas = document.setdefault("components", {}).setdefault("schemas", {})
    schemas[ERROR_SCHEMA] = ERROR
    schemas.setdefault("ValidationError", validation_error_definition)
    schemas.setdefault("HTTPValidationError", validation_error_response_definition)
    for path, operations in document.get("paths", {}).items():
        for method, operation in operations.items():
            if method not in WRITES | {"get", "head"}:
                continue
            responses: dict[str, Any] = operation.setdefault("responses", {})
            if "requestBody" in operation:
                responses.setdefault("400", {"description": BAD_BODY})
            if method in WRITES and path.startswith(API_PREFIX) and path != LOGIN:
                responses.setdefault("403", {"description": CSRF})
            if "503" not in responses:
                responses["503"] = {"description": UNAVAILABLE}
            for code, response in responses.items():
                if code.startswith(("4", "5")) and "content" not in response:
                    schema = "HTTPValidationError" if code == "422" else ERROR_SCHEMA
                    response["content"] = _content(schema)
    return document


def install(app: FastAPI) -> None:
    """Serve the completed document at the app's ``openapi_url``."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = complete(
                get_openapi(
                    title=app.title,
                    version=app.version,
                    openapi_version=app.openapi_version,
                    summary=app.summary,
                    description=app.description,
                    routes=app.routes,
                    tags=app.openapi_tags,
                    servers=app.servers,
                )
            )
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
