"""Authorization matrix: every URL route × method × role, live on gunicorn.

The routes come from Django's resolver (every app, the admin site, the API
schema and docs, health and metrics); the expected outcomes from the declared
matrix in ``authz.declared()``, whose governance part is the pytest matrix of
``tests/governance/test_authorization_matrix.py``. A route without a declared
rule, or a rule for a route that no longer exists, fails the check.
"""

from __future__ import annotations

import time
from collections import Counter

from tests.reliability import authz

NUMBER = 3
TITLE = "Authorization matrix: every route × method × role"
FAST = True


def run(ctx) -> None:
    ctx.orm()
    matrix = authz.declared()
    routes = authz.routes()
    keys = {route.key for route in routes}
    missing = sorted(keys - set(matrix))
    stale = sorted(set(matrix) - keys)
    ctx.say(f"{len(routes)} routes from the URL resolver, {len(matrix)} declared")
    for key in missing:
        ctx.say(f"  route without a declared rule: {key}")
    for key in stale:
        ctx.say(f"  rule for a route that does not exist: {key}")
    ctx.figure("routes missing from the matrix", len(missing), not missing)
    ctx.figure("declared routes that do not exist", len(stale), not stale)

    world = authz.world(ctx)
    cases = []
    for route in routes:
        if route.key not in matrix:
            continue
        url = authz.url_of(route, world)
        for method in route.methods:
            for role in authz.ROLES:
                cases.append(authz.Case(route, method, role, url))
    started = time.monotonic()
    authz.probe(ctx, cases)
    seconds = time.monotonic() - started

    mismatches = []
    for case in cases:
        expected = matrix[case.route.key].get(case.method, {}).get(case.role)
        if case.outcome != expected:
            mismatches.append((case, expected))
    outcomes = Counter(case.outcome for case in cases)
    ctx.say(
        f"{len(cases)} cases ({len(routes)} routes × methods × {len(authz.ROLES)} "
        f"roles) in {seconds:.0f}s: "
        + ", ".join(f"{k} {v}" for k, v in sorted(outcomes.items()))
    )
    for case, expected in mismatches[:60]:
        ctx.say(
            f"  MISMATCH {case.method} {case.url} ({case.route.key}) as "
            f"{case.role}: expected {expected}, got {case.outcome} ({case.status})"
        )
    if len(mismatches) > 60:
        ctx.say(f"  ... and {len(mismatches) - 60} more")
    ctx.figure("cases", len(cases))
    ctx.figure("mismatches", len(mismatches), not mismatches)
    ctx.figure("server errors", outcomes.get("5xx", 0), not outcomes.get("5xx"))
