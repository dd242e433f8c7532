"""The desk's own SQL, one statement per ``.sql`` file (the API's is in ``api/sql``)."""

from __future__ import annotations

from envgrid_cloud.sqlfiles import AsyncStatements

_statements = AsyncStatements(__name__)
load = _statements.load
fetch_all = _statements.fetch_all
fetch_one = _statements.fetch_one
