"""Schema fuzzing: schemathesis against the live /api/schema/ on gunicorn, with
each role's token and anonymously: zero server errors, and every response
conforms to the schema (status code, content type, body)."""

from __future__ import annotations

import time

NUMBER = 8
TITLE = "Schema fuzzing, per role and anonymous"
FAST = True

FUZZ_ROLES = (
    "anonymous",
    "viewer",
    "requester",
    "staging_approver",
    "production_approver",
    "ops",
    "admin",
    "api_client",
)


def _settings(examples: int):
    from hypothesis import HealthCheck, Phase
    from hypothesis import settings as hypothesis_settings

    return hypothesis_settings(
        max_examples=examples,
        deadline=None,
        derandomize=True,
        database=None,
        phases=list(Phase),  # explicit, reuse, generate, target, shrink
        suppress_health_check=list(HealthCheck),
        print_blob=False,
    )


def _test(operation, base, headers, checks, counter, examples):
    """One operation's hypothesis test: call the live server, validate."""
    from hypothesis import given

    @_settings(examples)
    @given(case=operation.as_strategy())
    def one(case):
        counter["n"] += 1
        response = case.call(base_url=base, headers=headers, timeout=60)
        if response.status_code >= 500:
            counter["5xx"] += 1
        case.validate_response(response, checks=checks)

    return one


def run(ctx) -> None:
    import schemathesis
    from schemathesis.checks import (
        content_type_conformance,
        not_a_server_error,
        response_schema_conformance,
        status_code_conformance,
    )

    checks = [
        not_a_server_error,
        status_code_conformance,
        content_type_conformance,
        response_schema_conformance,
    ]
    base = ctx.stack.base_url
    schema = schemathesis.openapi.from_url(f"{base}/api/schema/", wait_for_schema=30)
    operations = [result.ok() for result in schema.get_all_operations()]
    examples = 4 if ctx.fast else 25
    ctx.say(
        f"{len(operations)} operations in {base}/api/schema/, up to {examples} "
        f"generated cases each, {len(FUZZ_ROLES)} roles"
    )
    total_cases = 0
    failures: list[str] = []
    server_errors = 0
    started = time.monotonic()
    for role in FUZZ_ROLES:
        headers = {"Host": "127.0.0.1"}
        if role != "anonymous":
            headers["Authorization"] = f"Token {ctx.accounts[role].token}"
        role_cases = 0
        for operation in operations:
            counter = {"n": 0, "5xx": 0}
            one = _test(operation, base, headers, checks, counter, examples)
            try:
                one()
            except (Exception, BaseExceptionGroup) as exc:  # noqa: BLE001 - reported
                lines = [x.strip() for x in str(exc).splitlines() if x.strip()]
                failures.append(
                    f"{role}: {operation.label}: " + " | ".join(lines[1:6])[:300]
                )
            role_cases += counter["n"]
            server_errors += counter["5xx"]
        total_cases += role_cases
        ctx.say(f"{role:<20} {role_cases:>5} cases")
    seconds = time.monotonic() - started
    for line in failures[:40]:
        ctx.say(f"  FAILED {line}")
    ctx.figure("generated cases", total_cases)
    ctx.figure("time", f"{seconds:.0f} s")
    ctx.figure("server errors", server_errors, server_errors == 0)
    ctx.figure("operations × roles with a failed check", len(failures), not failures)
