"""``make reliability``: start the production-like stack on loopback, run every
check of RELIABILITY.md against it, print a summary table, exit non-zero if
any check fails.

    python -m tests.reliability.run                 # every check, full size
    python -m tests.reliability.run --fast          # the CI part
    python -m tests.reliability.run --only 3,7      # some checks
    python -m tests.reliability.run --report docs/reliability.md
    python -m tests.reliability.run --faults        # each check fails on its fault
    python -m tests.reliability.run --faults requester-may-approve
"""

from __future__ import annotations

import argparse
import platform
import secrets
import sys
import time
import traceback
from datetime import UTC, datetime
from pathlib import Path

from tests.reliability.base import (
    Account,
    CheckFailed,
    Context,
    Outcome,
    configure_environment,
    discover,
)
from tests.reliability.faults import ENV as FAULT_ENV
from tests.reliability.faults import FAULTS, Fault
from tests.reliability.faults import SETTINGS_MODULE as FAULT_SETTINGS
from tests.reliability.stack import ROOT, Ports, Stack

# role → demo user of ``manage.py seed_demo`` (api_client_2: a second client)
ROLE_USERS = {
    "viewer": "victor",
    "requester": "alice",
    "staging_approver": "bob",
    "production_approver": "carol",
    "production_approver_2": "dave",
    "admin": "admin",
    "api_client": "demo-client",
    "api_client_2": "demo-client-2",
    "ops": "erin",
}


def bootstrap(stack: Stack) -> dict[str, Account]:
    """Demo users, the demo models trained into the MLflow server and promoted
    to production through the workflow, the demo monitors."""
    started = time.monotonic()
    stack.manage("seed_demo")
    stack.manage("train", "--config", "params.yaml", "--if-absent", timeout=900)
    stack.manage("train", "--config", "params-tabular.yaml", "--if-absent")
    stack.manage("seed_monitors", "--model", "sms-spam", "--model", "breast-cancer")
    stack.manage("seed_promotions")
    configure_environment(stack)
    Context.orm()
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group
    from rest_framework.authtoken.models import Token

    from core.roles import Role

    User = get_user_model()
    client_2, _ = User.objects.get_or_create(
        username="demo-client-2", defaults={"email": "client2@example.com"}
    )
    client_2.groups.set(Group.objects.filter(name=Role.API_CLIENT.value))
    accounts = {}
    for role, username in ROLE_USERS.items():
        user = User.objects.get(username=username)
        password = secrets.token_urlsafe(12)
        user.set_password(password)
        user.save(update_fields=["password"])
        token, _ = Token.objects.get_or_create(user=user)
        accounts[role] = Account(username, password, token.key)
    print(f"  bootstrap done in {time.monotonic() - started:.0f}s", flush=True)
    return accounts


def render_report(outcomes: list[Outcome], fast: bool, seconds: float) -> str:
    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    lines = [
        "# Reliability report",
        "",
        f"Output of `make reliability{' FAST=1' if fast else ''}` on {when}, "
        f"{platform.machine()}, {platform.python_version()}, total {seconds:.0f} s. "
        "Every check ran against live processes on 127.0.0.1: gunicorn "
        "(production settings, 4 workers), PostgreSQL, Redis, a Celery worker and "
        "one beat, an MLflow server with basic-auth and a PostgreSQL store, an "
        "SMTP sink. See [the threat model](threat-model.md) for what each check "
        "covers.",
        "",
        "| # | check | result | time |",
        "|---|---|---|---|",
    ]
    for o in outcomes:
        result = "pass" if o.passed else "**FAIL**"
        lines.append(f"| {o.number} | {o.title} | {result} | {o.seconds:.0f} s |")
    lines.append("")
    for o in outcomes:
        lines.append(f"## {o.number}. {o.title}")
        lines.append("")
        for name, value, ok in o.figures:
            lines.append(f"- {name}: **{value}**{'' if ok else ' (FAILED)'}")
        if o.error:
            lines.append(f"- failure: `{o.error.splitlines()[0][:300]}`")
        lines.append("")
    return "\n".join(lines)


def run_check(stack: Stack, accounts, module, fast: bool) -> Outcome:
    """Run one check; a crash or a figure that does not hold fails it."""
    ctx = Context(stack=stack, accounts=accounts, fast=fast)
    print(f"\n[{module.NUMBER:>2}] {module.TITLE}", flush=True)
    t0 = time.monotonic()
    error = ""
    try:
        module.run(ctx)
        passed = all(ok for _, _, ok in ctx.figures)
        if not passed:
            error = "a figure did not hold"
    except CheckFailed as exc:
        passed, error = False, str(exc)
    except Exception as exc:  # noqa: BLE001 - a crashed check is a failed check
        passed, error = False, f"{type(exc).__name__}: {exc}"
        traceback.print_exc()
    finally:
        stack.ensure_running()
    seconds = time.monotonic() - t0
    print(
        f"  -> {'PASS' if passed else 'FAIL'} in {seconds:.1f}s"
        + (f": {error}" if error else ""),
        flush=True,
    )
    return Outcome(module.NUMBER, module.TITLE, passed, seconds, ctx.figures, error)


APP_PROCESSES = ("web", "worker", "beat")


def run_faults(stack: Stack, accounts, modules, args, started: float) -> int:
    """Switch each fault on in the stack, run the check that guards its
    invariant, expect that check to FAIL; switch it off again."""
    by_number = {m.NUMBER: m for m in discover()}
    chosen = [f for f in FAULTS if not args.faults or f.name in args.faults]
    if args.only:
        wanted = {m.NUMBER for m in modules}
        chosen = [f for f in chosen if f.check in wanted]
    unknown = set(args.faults or ()) - {f.name for f in FAULTS}
    if unknown:
        print(f"no such fault: {', '.join(sorted(unknown))}")
        return 2
    results: list[tuple[Fault, Outcome]] = []
    for fault in chosen:
        print(f"\n=== fault {fault.name}: breaks '{fault.breaks}'", flush=True)
        stack.fault_env = {
            "DJANGO_SETTINGS_MODULE": FAULT_SETTINGS,
            FAULT_ENV: fault.name,
            **fault.env,
        }
        try:
            for name in APP_PROCESSES:
                stack.restart(name)
            outcome = run_check(stack, accounts, by_number[fault.check], args.fast)
        finally:
            stack.fault_env = {}
            for name in APP_PROCESSES:
                stack.restart(name)
        caught = not outcome.passed
        first = next((f"{n}: {v}" for n, v, ok in outcome.figures if not ok), "")
        print(
            f"  fault {fault.name}: "
            + (
                f"CAUGHT by check {fault.check} ({first or outcome.error[:200]})"
                if caught
                else f"NOT CAUGHT: check {fault.check} passed"
            ),
            flush=True,
        )
        results.append((fault, outcome))

    total = time.monotonic() - started
    print("\nfault                                  check  caught  first failed figure")
    for fault, outcome in results:
        first = next((f"{n}: {v}" for n, v, ok in outcome.figures if not ok), "")
        caught = "yes" if not outcome.passed else "NO"
        print(
            f"{fault.name:<38} {fault.check:>5}  {caught:<6}  "
            f"{(first or outcome.error)[:90]}"
        )
    missed = [f for f, o in results if o.passed]
    print(
        f"\n{len(results) - len(missed)}/{len(results)} faults caught in {total:.0f}s"
    )
    if args.report:
        Path(args.report).write_text(render_fault_report(results, total))
    return 1 if missed else 0


def render_fault_report(results, seconds: float) -> str:
    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    lines = [
        "# Faults caught by the reliability checks",
        "",
        f"Output of `make reliability-faults` on {when}, total {seconds:.0f} s. "
        "Each row switched one fault on in every process of the live stack "
        "(`tests/reliability/faults`), ran the check that guards the invariant "
        "it breaks, and expected that check to fail.",
        "",
        "| fault | invariant it breaks | check | caught | first figure that failed |",
        "|---|---|---|---|---|",
    ]
    for fault, outcome in results:
        first = next((f"{n}: {v}" for n, v, ok in outcome.figures if not ok), "")
        detail = first or (outcome.error.splitlines() or [""])[0]
        detail = detail.replace("|", "\\|")[:160]
        lines.append(
            f"| `{fault.name}` | {fault.breaks} | {fault.check} | "
            f"{'yes' if not outcome.passed else '**NO**'} | {detail} |"
        )
    lines.append("")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fast", action="store_true", help="the CI-sized part")
    parser.add_argument("--only", default="", help="comma-separated check numbers")
    parser.add_argument("--workdir", default=str(ROOT / "var" / "reliability"))
    parser.add_argument("--report", default="", help="write a Markdown report here")
    parser.add_argument(
        "--faults",
        nargs="?",
        const="",
        default=None,
        help="run each fault (or the comma-separated ones) and expect its check "
        "to fail",
    )
    parser.add_argument(
        "--port-offset",
        type=int,
        default=0,
        help="shift every port and database name (two suites side by side)",
    )
    args = parser.parse_args(argv)
    if args.faults is not None:
        args.faults = [f for f in args.faults.split(",") if f]

    modules = discover()
    if args.only:
        wanted = {int(n) for n in args.only.split(",")}
        modules = [m for m in modules if m.NUMBER in wanted]
    elif args.fast:
        modules = [m for m in modules if m.FAST]
    print(f"reliability: {len(modules)} checks, workdir {args.workdir}", flush=True)

    started = time.monotonic()
    outcomes: list[Outcome] = []
    o = args.port_offset
    stack = Stack(
        Path(args.workdir),
        ports=Ports(web=8391 + o, redis=6391 + o, mlflow=5391 + o, smtp=9025 + o),
        db_name=f"modelgate_reliability{o or ''}",
        mlflow_db_name=f"mlflow_reliability{o or ''}",
    )
    with stack:
        print(f"  stack up in {time.monotonic() - started:.0f}s", flush=True)
        accounts = bootstrap(stack)
        if args.faults is not None:
            return run_faults(stack, accounts, modules, args, started)
        for module in modules:
            outcomes.append(run_check(stack, accounts, module, args.fast))

    total = time.monotonic() - started
    print("\n#   result  time    check")
    for o in outcomes:
        print(
            f"{o.number:<3} {'pass' if o.passed else 'FAIL':<7} "
            f"{o.seconds:>5.0f}s  {o.title}"
        )
    failed = [o for o in outcomes if not o.passed]
    print(f"\n{len(outcomes) - len(failed)}/{len(outcomes)} passed in {total:.0f}s")
    if args.report:
        Path(args.report).write_text(render_report(outcomes, args.fast, total))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
