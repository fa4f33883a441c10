"""Schemathesis against the live /api/openapi.json of the real app on a real socket: no 5xx, nothing off the document.

Every documented operation gets a bounded, derandomized set of generated requests (with the admin
token); each answer must not be a server error, must have a documented status, and must match the
schema the document gives for that status. The webhook has its own fuzzer (tests/security).
"""

from __future__ import annotations

import asyncio
from typing import Any

import hypothesis
import requests
import schemathesis
from aiohttp.test_utils import TestServer
from hypothesis import strategies
from schemathesis.checks import not_a_server_error
from schemathesis.core.result import Ok
from schemathesis.specs.openapi.checks import response_schema_conformance, status_code_conformance

from bot.app import create_app
from bot.inbound.dispatcher import Acknowledger
from bot.settings import Settings
from bot.whatsapp.client import RecordingTransport
from tests.conftest import FakeClock

EXAMPLES = 25  # per operation: about 30 operations, so the whole run stays well under a minute per database
MODES = (schemathesis.GenerationMode.POSITIVE, schemathesis.GenerationMode.NEGATIVE)
CHECKS = [not_a_server_error, status_code_conformance, response_schema_conformance]


def fuzz(base: str, headers: dict[str, str]) -> list[str]:
    """Run every operation's examples against `base`: the failures, one per operation that failed.

    It runs in a thread of its own (Schemathesis calls with `requests`, blocking), while the app serves on
    the test's event loop.
    """
    schema = schemathesis.openapi.from_url(f"{base}/api/openapi.json", timeout=10)
    failures: list[str] = []
    tried: set[str] = set()
    with requests.Session() as session:
        for result in schema.get_all_operations():
            assert isinstance(result, Ok), result
            operation = result.ok()

            @hypothesis.settings(
                max_examples=EXAMPLES,
                deadline=None,
                derandomize=True,
                database=None,
                suppress_health_check=list(hypothesis.HealthCheck),
                phases=[hypothesis.Phase.explicit, hypothesis.Phase.generate],
            )
            @hypothesis.given(case=strategies.one_of(operation.as_strategy(mode) for mode in MODES))
            def run(case: schemathesis.Case) -> None:
                tried.add(case.operation.label)
                case.call_and_validate(base_url=base, session=session, headers=headers, checks=CHECKS, timeout=10)

            try:
                run()
            except Exception as exc:  # every operation's failure, reported together
                failures.append(f"{operation.label}: {exc}")
    documented = {f"{method.upper()} {path}" for path, item in schema.raw_schema["paths"].items() for method in item}
    documented.discard("GET /api/openapi.json")  # no inputs to vary: Schemathesis generates no case for it
    failures += [f"{label}: no request was generated" for label in sorted(documented - tried)]
    return failures


async def test_generated_requests_get_no_server_error_and_only_documented_answers(
    aiohttp_server: Any, settings: Settings, clock: FakeClock, auth: dict[str, str]
) -> None:
    """Generated requests to every operation get a documented status, never a 5xx, with a body the document allows."""
    app = create_app(settings, clock=clock, transport=RecordingTransport(), migrate=True, handler=Acknowledger())
    server: TestServer = await aiohttp_server(app)
    base = str(server.make_url("")).rstrip("/")
    failures = await asyncio.to_thread(fuzz, base, auth)
    assert failures == [], "\n\n".join(failures)
