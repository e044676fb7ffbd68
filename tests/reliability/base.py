"""What every reliability check shares: the registry, the context a check runs
in (the live stack, users per role, HTTP helpers, ORM access) and its result.

A check is a module ``check_NN_<slug>.py`` in this folder defining ``NUMBER``,
``TITLE``, ``FAST`` (part of the CI run) and ``run(ctx) -> None``. A check
calls ``ctx.say`` for what it does, ``ctx.figure`` for every figure that must
hold, and ``ctx.expect`` (or raises ``CheckFailed``) when something does not.
"""

from __future__ import annotations

import http.client
import importlib
import json
import os
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType

from tests.reliability.stack import Stack

HERE = Path(__file__).resolve().parent

# Roles of RELIABILITY check 3, each a user of the stack (anonymous has none).
ROLES = (
    "anonymous",
    "viewer",
    "requester",
    "staging_approver",
    "production_approver",
    "admin",
    "api_client",
    "ops",
)


class CheckFailed(AssertionError):
    """An invariant of a check does not hold."""


@dataclass
class Account:
    username: str
    password: str
    token: str


@dataclass
class Response:
    status: int
    headers: dict[str, str]
    body: bytes
    cookies: dict[str, str] = field(default_factory=dict)

    def json(self):
        return json.loads(self.body)


@dataclass
class Context:
    """Everything a check needs; ``fast`` runs the CI-sized variant."""

    stack: Stack
    accounts: dict[str, Account]
    fast: bool = False
    lines: list[str] = field(default_factory=list)
    figures: list[tuple[str, str, bool]] = field(default_factory=list)

    # ---------------------------------------------------------------- report
    def say(self, text: str) -> None:
        print(f"    {text}", flush=True)
        self.lines.append(text)

    def figure(self, name: str, value, ok: bool = True) -> None:
        """Record a figure that must hold; ``ok=False`` fails the check."""
        mark = "ok" if ok else "FAILED"
        print(f"    {name}: {value}  [{mark}]", flush=True)
        self.figures.append((name, str(value), ok))

    def expect(self, condition: bool, what: str) -> None:
        if not condition:
            raise CheckFailed(what)

    # ---------------------------------------------------------------- HTTP
    def request(
        self,
        method: str,
        path: str,
        *,
        role: str | None = None,
        body: bytes | str | dict | list | None = None,
        headers: dict[str, str] | None = None,
        timeout: float = 30,
    ) -> Response:
        """One HTTP request to gunicorn; ``role`` adds that account's token."""
        all_headers = {"Host": "127.0.0.1"}
        if role and role != "anonymous":
            all_headers["Authorization"] = f"Token {self.accounts[role].token}"
        if isinstance(body, dict | list):
            body = json.dumps(body)
            all_headers["Content-Type"] = "application/json"
        if isinstance(body, str):
            body = body.encode("utf-8", "surrogatepass")
        all_headers.update(headers or {})
        conn = http.client.HTTPConnection(
            "127.0.0.1", self.stack.ports.web, timeout=timeout
        )
        try:
            conn.request(method, path, body=body, headers=all_headers)
            raw = conn.getresponse()
            data = raw.read()
            cookies = {}
            for key, value in raw.getheaders():
                if key.lower() == "set-cookie":
                    name, _, rest = value.partition("=")
                    cookies[name.strip()] = rest.split(";", 1)[0]
            return Response(
                raw.status,
                {k.lower(): v for k, v in raw.getheaders()},
                data,
                cookies,
            )
        finally:
            conn.close()

    def predict(self, texts: list[str], role: str = "api_client", **kw) -> Response:
        return self.request(
            "POST",
            "/api/v1/models/sms-spam/predict",
            role=role,
            body={"inputs": [{"message": t} for t in texts]},
            headers={"X-Request-ID": uuid.uuid4().hex, **kw.pop("headers", {})},
            **kw,
        )

    # ---------------------------------------------------------------- data
    @staticmethod
    def orm():
        """Django, set up against the stack's database (the runner's process)."""
        import django

        django.setup()
        return django

    def wait(self, predicate, what: str, timeout: float = 60, interval=0.25):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            value = predicate()
            if value:
                return value
            time.sleep(interval)
        raise CheckFailed(f"timed out after {timeout:.0f}s waiting for {what}")


@dataclass
class Outcome:
    number: int
    title: str
    passed: bool
    seconds: float
    figures: list[tuple[str, str, bool]]
    error: str = ""


def discover() -> list[ModuleType]:
    modules = []
    for path in sorted(HERE.glob("check_*.py")):
        module = importlib.import_module(f"tests.reliability.{path.stem}")
        modules.append(module)
    return sorted(modules, key=lambda m: m.NUMBER)


def configure_environment(stack: Stack) -> None:
    """Point this process's Django at the stack (same settings as gunicorn)."""
    os.environ.update(stack.env())
