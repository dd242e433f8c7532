"""Why a move on a case was refused; the API maps each to its HTTP status."""

from __future__ import annotations


class CaseRefused(Exception):
    """A request about a case that cannot be carried out; the message says why."""


class IllegalMove(CaseRefused):
    """The action does not apply to the case's state (HTTP 409)."""


class NotPermitted(CaseRefused):
    """The actor may not make this move: role, activity or area (HTTP 403)."""


class NotFound(CaseRefused, LookupError):
    """No such case, site or officer (HTTP 404)."""


class Invalid(CaseRefused, ValueError):
    """The request itself is malformed: a missing reason, an oversized attachment (HTTP 422)."""
