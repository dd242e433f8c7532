"""The API against an OpenAPI fuzzer: schemathesis, every check, every phase, a fixed seed.

Runs in process what ``schemathesis run --checks all`` runs against a server: the app over
ASGI with its lifespan (pool, live feed, sweeps) on a migrated, seeded database of this test's
own, an administrator's token, the examples, coverage, fuzzing and stateful phases. As the
administrator it creates, changes and deletes things in its database: that is its own. Each
failure is reported once (per operation and kind) with the curl command that reproduces it.

Where a schema-valid request is still refused with 422, it is because of what is stored or of
fields taken together, which a schema cannot say: a body naming a cell, site or officer that
does not exist, a parent of the wrong level, a case move that needs a reason. Those operations
(and only those) accept a documented 422 for valid data; see ``SEMANTIC_422``.
"""

from __future__ import annotations

import os
import time
from typing import Any

import pytest

schemathesis = pytest.importorskip("schemathesis")

from schemathesis.config import SchemathesisConfig  # noqa: E402
from schemathesis.core.failures import Failure  # noqa: E402
from schemathesis.engine import events, from_schema  # noqa: E402
from schemathesis.python import asgi  # noqa: E402

from envgrid_cloud.app import create_app  # noqa: E402
from envgrid_cloud.settings import CloudSettings  # noqa: E402
from tests.integration.test_api_support import seed, token_for  # noqa: E402

SEED = 20260509
# Per operation and phase; ENVGRID_FUZZ_EXAMPLES raises it for a longer hunt.
MAX_EXAMPLES = int(os.environ.get("ENVGRID_FUZZ_EXAMPLES", "50"))
STATEFUL_STEPS = 20
# Positive data acceptance: what a schema-valid request may be answered besides success.
ACCEPTED = ["2xx", "3xx", "401", "403", "404", "409", "429"]
# Operations whose 422 for schema-valid data is a check against stored data or across fields.
SEMANTIC_422 = {
    "POST /api/v1/grid": "a parent that is missing or of the wrong level for the cell's",
    "PUT /api/v1/grid/{cell_id}": "the same",
    "POST /api/v1/sites": "an unknown cell or downstream site; water details of a non-water "
    "body; lon without lat",
    "PUT /api/v1/sites/{site_id}": "the same",
    "PUT /api/v1/sites/{site_id}/rules": "a rule the site's category does not have",
    "POST /api/v1/nodes": "an unknown site",
    "PUT /api/v1/nodes/{node_id}": "an unknown site",
    "POST /api/v1/users": "an unknown cell; a grid officer without one; a weak password",
    "PUT /api/v1/users/{user_id}": "an unknown cell; a grid officer without one",
    "POST /api/v1/cases/{case_id}/actions": "a move without its reason or assignee",
    "POST /api/v1/auth/password": "the current password is wrong; the new one is weak",
    "POST /api/v1/channels": "a target unfit for the kind (an address for a robot, a URL for "
    "e-mail), a secret for other than DingTalk, both cell and user, an unknown cell or user",
    "PATCH /api/v1/channels/{channel_id}": "the same, of the channel as changed",
    "POST /api/v1/silences": "an end in the past or over 31 days away; neither site nor rule; a "
    "cell with a site; an unknown cell",
}


def _config(token: str) -> SchemathesisConfig:
    return SchemathesisConfig.from_dict(
        {
            "seed": SEED,
            "headers": {"Authorization": f"Bearer {token}"},
            "continue-on-failure": True,
            "generation": {
                "max-examples": MAX_EXAMPLES,
                "deterministic": True,
                "database": "none",
            },
            "checks": {
                "enabled": True,
                "positive_data_acceptance": {"expected-statuses": ACCEPTED},
            },
            "phases": {
                "examples": {"enabled": True},
                "coverage": {"enabled": True},
                "fuzzing": {"enabled": True},
                "stateful": {"enabled": True, "max-steps": STATEFUL_STEPS},
            },
            "operations": [
                {
                    "include-name": name,
                    "checks": {
                        "positive_data_acceptance": {"expected-statuses": [*ACCEPTED, "422"]}
                    },
                }
                for name in SEMANTIC_422
            ]
            # The live feed streams for ever: what it sends in its first half second will do.
            + [{"include-name": "GET /api/v1/cases/live", "request-timeout": 0.5}],
            "max-stream-events": 1,
            "request-timeout": 20,
            "cache": {"enabled": False},
        }
    )


def _describe(failure: Failure, curl: str) -> str:
    return f"{failure.operation}: {failure.title}\n    {failure.message}\n    {curl}"


@pytest.mark.timeout(900)
def test_the_fuzzer_finds_nothing(migrated_url: str) -> None:
    seed(migrated_url)
    token = token_for(migrated_url)
    app = create_app(CloudSettings(database_url=migrated_url))
    schema = schemathesis.openapi.from_asgi("/openapi.json", app, config=_config(token))
    found: dict[Failure, str] = {}
    errors: list[str] = []
    phases: dict[str, str] = {}
    requests: dict[str, int] = {}
    started = time.monotonic()
    try:
        for event in from_schema(schema).execute():
            if isinstance(event, events.ScenarioFinished):
                phase = event.phase.value
                requests[phase] = requests.get(phase, 0) + len(event.recorder.interactions)
                for checks in event.recorder.checks.values():
                    for check in checks:
                        info = check.failure_info
                        if info is not None and info.failure not in found:
                            found[info.failure] = info.code_sample
            elif isinstance(event, events.NonFatalError):
                errors.append(f"{event.label}: {event.info.title}\n    {event.info.message}")
            elif isinstance(event, events.FatalError):
                errors.append(f"fatal: {event.exception!r}")
            elif isinstance(event, events.PhaseFinished):
                phases[event.phase.name.value] = event.status.value
    finally:
        asgi.shutdown_lifespans()
    elapsed = time.monotonic() - started
    print(f"schemathesis: {sum(requests.values())} requests in {elapsed:.0f} s {requests}")
    report = [_describe(failure, curl) for failure, curl in found.items()]
    problems = report + errors
    assert not problems, f"{len(report)} distinct failures, {len(errors)} errors:\n" + "\n".join(
        problems
    )
    # Every phase ran, the stateful one included (links between operations were found).
    ran: dict[str, Any] = {
        p: phases.get(p) for p in ("examples", "coverage", "fuzzing", "stateful")
    }
    assert all(status == "success" for status in ran.values()), ran
