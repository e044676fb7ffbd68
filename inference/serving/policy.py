"""The serving rules: who may be served which version, and how.

Every channel (REST predict and ``/invocations``, batch jobs, the stream
consumer, the web pages, the edge) gets its model from
``inference.services.predict.served_model_get``, which asks this module:

- ``serving_grant``: the alias or version a caller asked for. Only the
  configured stage aliases are served (any other alias: 400 naming it).
  ``@production`` is served to everyone who may predict; ``@staging``,
  ``@previous`` and explicit versions only to superusers and the
  ``INFERENCE["SERVE_UNPROMOTED_ROLES"]`` groups (403 otherwise), and such
  predictions are logged ``served_as="elevated"``. A channel without a
  caller (the stream consumer, a scheduled batch job) is judged as its owning
  account (``INFERENCE_STREAM_CLIENT``, ``INFERENCE_SCHEDULED_BATCH_CLIENT``);
  without one it is served production only.
- ``tests_admit``: the version's model tests, from its tags (``modelgate.tests``;
  versions registered outside the trainer carry what their tags say). Failed:
  never served (409 ``model_tests_failed``); no status: untested, served only
  when ``INFERENCE["SERVE_UNTESTED"]`` is on (409 ``model_untested``
  otherwise). An audited override (``manage.py serving_override``, a ledger
  event read through ``governance.selectors``) lets either be served, logged
  ``served_as="override"``. The model cache asks it before it loads a
  version, so a refused version's pickle is never unpickled in the worker.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Any

from django.conf import settings

from core.errors import ApplicationError, ConflictError, PermissionDeniedError
from inference.choices import ServedAs

TAG_TESTS = "modelgate.tests"
#: How long a process remembers whether a version has a serving override (a
#: grant or a revocation reaches every worker within this time).
OVERRIDE_TTL_SECONDS = 5.0


class AliasNotServed(ApplicationError):
    code = "alias_not_served"


class ServingNotPermitted(PermissionDeniedError):
    code = "serving_not_permitted"


class ModelTestsFailed(ConflictError):
    code = "model_tests_failed"


class ModelUntested(ConflictError):
    code = "model_untested"


@dataclass(frozen=True, slots=True)
class ServingGrant:
    """What a caller may be served: an alias (its configured name) or a
    version, and the rule that allows it (a ``ServedAs`` value)."""

    alias: str | None
    version: int | None
    served_as: str


def stage_aliases() -> dict[str, str]:
    """stage → configured alias name (production, staging, previous)."""
    return dict(settings.MODELGATE["STAGE_ALIASES"])


def serving_grant(
    *, user: Any, alias: str | None = None, version: int | None = None
) -> ServingGrant:
    """Whether ``user`` (None: a channel without a person) may be served
    ``alias`` (default production) or ``version``; raises ``AliasNotServed``
    (400) or ``ServingNotPermitted`` (403) naming the reason."""
    stages = stage_aliases()
    production = stages["production"]
    if version is None:
        asked = alias or production
        # a stage's name is accepted for its configured alias
        alias = stages.get(asked, asked)
        if alias not in stages.values():
            served = ", ".join(sorted(set(stages.values())))
            raise AliasNotServed(
                f"alias {asked!r} is not served; the served aliases are {served}",
                {"fields": {"alias": [f"{asked!r} is not a served alias"]}},
            )
        if alias == production:
            return ServingGrant(alias, None, ServedAs.PROMOTED)
    from inference.permissions import may_serve_unpromoted  # (DRF: on use)

    if user is None or not may_serve_unpromoted(user):
        what = f"@{alias}" if version is None else f"an explicit version (v{version})"
        roles = ", ".join(settings.INFERENCE["SERVE_UNPROMOTED_ROLES"])
        if user is None:
            message = (
                f"this channel is served @{production} only; {what} is served "
                f"to people with one of the roles {roles}"
            )
        else:
            message = (
                f"serving {what} needs one of the roles {roles}; your account "
                f"is served @{production}"
            )
        raise ServingNotPermitted(
            message, {"fields": {"alias" if version is None else "version": [what]}}
        )
    return ServingGrant(alias if version is None else None, version, ServedAs.ELEVATED)


# ----------------------------------------------------------------- model tests
_overrides: dict[tuple[str, int], tuple[dict | None, float]] = {}
_overrides_lock = threading.Lock()


def _override(name: str, version: int) -> dict | None:
    """The version's serving override (remembered for ``OVERRIDE_TTL_SECONDS``)."""
    key = (name, version)
    now = time.monotonic()
    hit = _overrides.get(key)
    if hit is not None and hit[1] > now:
        return hit[0]
    from governance.selectors import serving_override_active

    found = serving_override_active(model_name=name, version=version)
    with _overrides_lock:
        if len(_overrides) > 10_000:
            _overrides.clear()
        _overrides[key] = (found, now + OVERRIDE_TTL_SECONDS)
    return found


def forget_overrides() -> None:
    """Drop the remembered overrides (tests)."""
    with _overrides_lock:
        _overrides.clear()


def model_tests_status(tags: dict[str, str]) -> str:
    """passed, failed, or untested (no status, or one the trainer never writes)."""
    value = str((tags or {}).get(TAG_TESTS, "")).strip().lower()
    return value if value in ("passed", "failed") else "untested"


def tests_admit(*, name: str, version: int, tags: dict[str, str]) -> bool:
    """Whether ``name`` v``version`` (with these tags) may be served; True when
    only an override allows it. Raises ``ModelTestsFailed`` or
    ``ModelUntested`` (409) with the reason."""
    status = model_tests_status(tags)
    if status == "passed":
        return False
    if _override(name, version) is not None:
        return True
    if status == "failed":
        raise ModelTestsFailed(
            f"{name} v{version} is not served: its model tests failed "
            f"({TAG_TESTS}=failed; see the version's model card). Only an "
            "audited override (manage.py serving_override) lets it be served.",
            {"model_name": name, "model_version": version},
        )
    if settings.INFERENCE["SERVE_UNTESTED"]:
        return False
    raise ModelUntested(
        f"{name} v{version} is not served: it carries no model-test status "
        f"(tag {TAG_TESTS}), and untested versions are not served here "
        "(INFERENCE_SERVE_UNTESTED). An audited override (manage.py "
        "serving_override) lets it be served.",
        {"model_name": name, "model_version": version},
    )
