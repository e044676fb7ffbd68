"""Serving obeys governance: which caller is served which version, on every
channel (REST, batch, stream, the web try page, the edge), and how the log
marks it (``served_as``).

The model ``serve-policy`` is sms-spam v1 registered three times: v1 with its
tests passed, v2 tagged ``modelgate.tests=failed``, v3 without a test status.
"""

from __future__ import annotations

import json
import uuid

import pytest
from django.core.management import call_command
from django.utils import timezone

from inference.models import BatchJob, PredictionLog, RequestError
from inference.serving import model_cache
from inference.serving.policy import (
    AliasNotServed,
    ServingNotPermitted,
    forget_overrides,
    serving_grant,
)
from tests.inference.conftest import token_client

NAME = "serve-policy"
URL = f"/api/v1/models/{NAME}/predict"
BODY = {"inputs": [{"message": "are we still on for tonight?"}]}
PASSED, FAILED, UNTESTED = 1, 2, 3


@pytest.fixture
def policy_model(sms_model):
    """``serve-policy`` v1 (passed), v2 (failed), v3 (untested), registered
    once per session; v1 holds production, staging and previous."""
    from core import registry
    from governance.services import registered_model_sync
    from governance.services.serving import alias_move_record

    try:
        known = len(registry.version_list(NAME))
    except registry.RegistryError:
        known = 0
    if not known:
        source = registry.version_get("sms-spam", sms_model.version)
        base = {k: v for k, v in source.tags.items() if k != "modelgate.tests"}
        for tests in ("passed", "failed", None):
            registry.version_register(
                name=NAME,
                model_uri=source.source,
                run_id=source.run_id,
                tags={**base, "modelgate.tests": tests} if tests else base,
                description=f"copy of sms-spam v1, tests {tests or 'never run'}",
            )
    registered_model_sync(name=NAME)
    for alias in ("production", "staging", "previous"):
        alias_move_record(
            name=NAME, alias=alias, version=PASSED, actor="tests", reason="setup"
        )
    return NAME


def _user(make_user, role: str):
    if role == "superuser":
        return make_user(f"su-{uuid.uuid4().hex[:6]}", is_superuser=True)
    return make_user(f"{role}-{uuid.uuid4().hex[:6]}", roles=[role])


def _last_log() -> PredictionLog:
    return PredictionLog.objects.order_by("-id").first()


def _loaded(version: int) -> bool:
    return (NAME, version) in model_cache().loaded()


# ------------------------------------------------------------ the rule itself
def test_a_channel_without_a_person_gets_production_only():
    grant = serving_grant(user=None)
    assert (grant.alias, grant.version, grant.served_as) == (
        "production",
        None,
        "promoted",
    )
    # a stage's name is accepted for its configured alias
    assert serving_grant(user=None, alias="production").alias == "production"
    for asked in ({"alias": "staging"}, {"alias": "previous"}, {"version": 1}):
        with pytest.raises(ServingNotPermitted, match="served @production only"):
            serving_grant(user=None, **asked)


def test_an_alias_that_is_no_stage_is_refused_naming_it():
    with pytest.raises(AliasNotServed, match="'champion' is not served"):
        serving_grant(user=None, alias="champion")


# ------------------------------------------------- REST: role × alias/version
# (query, {role: (status, code or served_as)}); roles not named: as "*"
ELEVATED = {"api_clients": (403, "serving_not_permitted"), "*": (200, "elevated")}
MATRIX = [
    ("", {"*": (200, "promoted")}),
    ("?alias=production", {"*": (200, "promoted")}),
    ("?alias=staging", ELEVATED),
    ("?alias=previous", ELEVATED),
    (f"?version={PASSED}", ELEVATED),
    ("?alias=champion", {"*": (400, "alias_not_served")}),
    (
        f"?version={FAILED}",
        {
            "api_clients": (403, "serving_not_permitted"),
            "*": (409, "model_tests_failed"),
        },
    ),
    (
        f"?version={UNTESTED}",
        {"api_clients": (403, "serving_not_permitted"), "*": (409, "model_untested")},
    ),
]
ROLES = ["api_clients", "requesters", "ops", "superuser"]


@pytest.mark.parametrize("role", ROLES)
def test_serving_matrix_role_by_alias_and_version(make_user, policy_model, role):
    api = token_client(_user(make_user, role))
    for query, expected in MATRIX:
        status, mark = expected.get(role, expected["*"])
        before = PredictionLog.objects.count()

        response = api.post(URL + query, BODY, format="json")

        assert response.status_code == status, (role, query, response.content)
        if status == 200:
            assert _last_log().served_as == mark, (role, query)
            assert response.json()["model_version"] == PASSED
        else:
            assert response.json()["error"]["code"] == mark, (role, query)
            assert PredictionLog.objects.count() == before
    # a refused version's model was never loaded in this process
    assert not _loaded(FAILED) and not _loaded(UNTESTED)


def test_a_refusal_names_the_rule_and_is_recorded(api, policy_model):
    response = api.post(f"{URL}?alias=staging", BODY, format="json")
    error = response.json()["error"]
    assert "requesters, ops" in error["message"]
    assert "@production" in error["message"]
    assert RequestError.objects.get().code == "serving_not_permitted"
    bad = api.post(f"{URL}?alias=champion", BODY, format="json").json()["error"]
    assert "'champion'" in bad["message"] and "champion" in str(bad["fields"])


def test_production_on_a_failed_version_is_refused_to_everyone(
    api, make_user, policy_model
):
    from governance.services.serving import alias_move_record

    # given production moved (by Modelgate) to the version whose tests failed
    alias_move_record(
        name=NAME, alias="production", version=FAILED, actor="tests", reason="setup"
    )
    # then nobody is served it, and its pickle is never loaded
    for client in (api, token_client(_user(make_user, "superuser"))):
        response = client.post(URL, BODY, format="json")
        assert response.status_code == 409
        error = response.json()["error"]
        assert error["code"] == "model_tests_failed"
        assert "tests failed" in error["message"]
        assert error["model_version"] == FAILED
    assert not _loaded(FAILED)
    assert not PredictionLog.objects.exists()


def test_an_audited_override_serves_a_failed_version_until_revoked(
    make_user, policy_model
):
    from governance.models import AuditEvent

    ds = _user(make_user, "requesters")
    api = token_client(ds)
    refused = api.post(f"{URL}?version={FAILED}", BODY, format="json")
    assert refused.status_code == 409

    # when an override is granted (audited, with who and why)
    call_command(
        "serving_override",
        NAME,
        str(FAILED),
        "--reason",
        "incident 42: the failing test is a known flake",
        "--by",
        ds.username,
    )
    forget_overrides()  # the processes honour it within OVERRIDE_TTL_SECONDS

    # then it is served, and the log says how
    served = api.post(f"{URL}?version={FAILED}", BODY, format="json")
    assert served.status_code == 200, served.content
    assert served.json()["model_version"] == FAILED
    assert _last_log().served_as == "override"
    event = AuditEvent.objects.get(kind="serving_override")
    assert (event.actor, event.version) == (ds.username, FAILED)
    assert event.payload["action"] == "grant"
    assert event.payload["test_status"] == "failed"
    # the override is no elevation: an API client still gets production only
    assert (
        token_client(_user(make_user, "api_clients"))
        .post(f"{URL}?version={FAILED}", BODY, format="json")
        .status_code
        == 403
    )

    # when it is revoked, the loaded version is refused again
    call_command(
        "serving_override", NAME, str(FAILED), "--reason", "fixed", "--by",
        ds.username, "--revoke",
    )  # fmt: skip
    forget_overrides()
    again = api.post(f"{URL}?version={FAILED}", BODY, format="json")
    assert again.status_code == 409
    assert again.json()["error"]["code"] == "model_tests_failed"


def test_an_override_needs_a_reason_and_a_known_user(policy_model, make_user):
    from django.core.management.base import CommandError

    ds = _user(make_user, "requesters")
    with pytest.raises(CommandError, match="reason"):
        call_command(
            "serving_override", NAME, "2", "--reason", " ", "--by", ds.username
        )
    with pytest.raises(CommandError, match="no user"):
        call_command("serving_override", NAME, "2", "--reason", "x", "--by", "nobody")


def test_untested_versions_follow_the_policy_setting(make_user, policy_model, settings):
    api = token_client(_user(make_user, "ops"))
    assert (
        api.post(f"{URL}?version={UNTESTED}", BODY, format="json").json()["error"][
            "code"
        ]
        == "model_untested"
    )
    settings.INFERENCE = {**settings.INFERENCE, "SERVE_UNTESTED": True}
    response = api.post(f"{URL}?version={UNTESTED}", BODY, format="json")
    assert response.status_code == 200, response.content
    assert _last_log().served_as == "elevated"


def test_the_elevated_roles_are_a_setting(make_user, policy_model, settings):
    settings.INFERENCE = {**settings.INFERENCE, "SERVE_UNPROMOTED_ROLES": ["ops"]}
    ds = token_client(_user(make_user, "requesters"))
    assert ds.post(f"{URL}?alias=staging", BODY, format="json").status_code == 403
    ops = token_client(_user(make_user, "ops"))
    assert ops.post(f"{URL}?alias=staging", BODY, format="json").status_code == 200


# ---------------------------------------------------------------- batch jobs
def _csv_upload():
    from django.core.files.uploadedfile import SimpleUploadedFile

    return SimpleUploadedFile(
        "in.csv", b"message\nhello there\nsee you soon\n", content_type="text/csv"
    )


def test_batch_jobs_obey_the_same_rules(
    make_user, policy_model, django_capture_on_commit_callbacks
):
    client = token_client(_user(make_user, "api_clients"))
    for extra, status, code in [
        ({"alias": "staging"}, 403, "serving_not_permitted"),
        ({"version": PASSED}, 403, "serving_not_permitted"),
        ({"alias": "champion"}, 400, "alias_not_served"),
    ]:
        response = client.post(
            "/api/v1/batch-jobs",
            {"model": NAME, "file": _csv_upload(), **extra},
            format="multipart",
        )
        assert response.status_code == status, (extra, response.content)
        assert response.json()["error"]["code"] == code
    ds = token_client(_user(make_user, "requesters"))
    failed = ds.post(
        "/api/v1/batch-jobs",
        {"model": NAME, "file": _csv_upload(), "version": FAILED},
        format="multipart",
    )
    assert failed.status_code == 409
    assert failed.json()["error"]["code"] == "model_tests_failed"
    assert not BatchJob.objects.exists()

    # a data scientist's staging job runs, its rows marked elevated
    with django_capture_on_commit_callbacks(execute=True):
        job = ds.post(
            "/api/v1/batch-jobs",
            {"model": NAME, "file": _csv_upload(), "alias": "staging"},
            format="multipart",
        )
    assert job.status_code == 202, job.content
    assert BatchJob.objects.get().status == "succeeded"
    logged = PredictionLog.objects.filter(batch_id=job.json()["id"])
    assert logged.count() == 2
    assert set(logged.values_list("served_as", flat=True)) == {"elevated"}


def test_a_batch_job_whose_owner_lost_the_role_ends_failed_saying_why(
    make_user, policy_model
):
    from inference.services.batch import batch_job_create, batch_job_run

    ds = _user(make_user, "requesters")
    job = batch_job_create(
        model_name=NAME, client=ds, alias="staging", upload=_csv_upload(), enqueue=False
    )
    # when the owner loses the role before the worker runs the job
    ds.groups.clear()
    from inference import permissions

    permissions._ROLE_CACHE.clear()
    done = batch_job_run(job_id=job.pk)
    assert done.status == "failed"
    assert "serving @staging needs one of the roles" in done.error
    assert not PredictionLog.objects.exists()


def test_a_scheduled_job_is_served_production_only(policy_model, settings, tmp_path):
    from inference.services.batch import batch_job_scheduled_run

    folder = settings.INFERENCE["BATCH_ALLOWED_DIRS"][0]
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{uuid.uuid4().hex}.csv"
    path.write_text("message\nhi\n")
    with pytest.raises(ServingNotPermitted):
        batch_job_scheduled_run(
            path=str(path), model=NAME, alias="staging", version=None, key="k-1"
        )
    done = batch_job_scheduled_run(
        path=str(path), model=NAME, alias=None, version=None, key="k-2"
    )
    assert done.status == "succeeded"
    assert PredictionLog.objects.get().served_as == "promoted"


# -------------------------------------------------------------------- stream
@pytest.fixture
def streams(redis_client, redis_url):
    from inference.services.stream import StreamConfig

    tag = uuid.uuid4().hex[:8]
    config = StreamConfig(
        redis_url=redis_url,
        input=f"mg-test:{tag}:in",
        output=f"mg-test:{tag}:out",
        dead_letter=f"mg-test:{tag}:dead",
        group="mg-test",
        consumer="c1",
        batch=50,
        block_ms=200,
        claim_idle_ms=500,
    )
    yield config
    for key in (config.input, config.output, config.dead_letter):
        redis_client.delete(key)


@pytest.mark.redis
def test_the_stream_consumer_is_served_production_only(
    policy_model, streams, redis_client
):
    from inference.services.stream import StreamConsumer

    inputs = json.dumps({"message": "hello"})
    ok = redis_client.xadd(streams.input, {"inputs": inputs, "model": NAME})
    for extra in ({"alias": "staging"}, {"version": "1"}, {"alias": "champion"}):
        redis_client.xadd(streams.input, {"inputs": inputs, "model": NAME, **extra})

    StreamConsumer(streams).run(idle_exit_seconds=0.5)

    published = [
        fields[b"request_id"].decode()
        for _id, fields in redis_client.xrange(streams.output)
    ]
    assert published == [ok.decode()]
    assert PredictionLog.objects.get().served_as == "promoted"
    reasons = sorted(
        fields[b"reason"].decode()
        for _id, fields in redis_client.xrange(streams.dead_letter)
    )
    assert len(reasons) == 3
    assert sum(r.startswith("serving_not_permitted:") for r in reasons) == 2
    assert sum(r.startswith("alias_not_served:") for r in reasons) == 1


# ------------------------------------------------------------ web try page
def test_the_try_page_obeys_the_same_rules(client, make_user, policy_model):
    client.force_login(_user(make_user, "api_clients"))
    page = client.get(f"/models/{NAME}/try?alias=staging")
    assert page.status_code == 403
    assert "needs one of the roles" in page.content.decode()
    posted = client.post(f"/models/{NAME}/try?alias=staging", {"message": "hi"})
    assert posted.status_code == 403
    assert not PredictionLog.objects.exists()
    assert client.get(f"/models/{NAME}/try").status_code == 200

    client.force_login(_user(make_user, "requesters"))
    served = client.post(f"/models/{NAME}/try?alias=staging", {"message": "hi"})
    assert served.status_code == 200, served.content.decode()[:500]
    log = PredictionLog.objects.get()
    assert (log.source, log.alias, log.served_as) == ("web", "staging", "elevated")


# ---------------------------------------------------------------------- edge
def test_the_edge_obeys_the_same_rules(api, make_user, policy_model):
    assert api.get(f"/api/v1/models/{NAME}/edge").status_code == 200
    refused = api.get(f"/api/v1/models/{NAME}/edge?alias=staging")
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "serving_not_permitted"
    item = {
        "id": str(uuid.uuid4()),
        "version": PASSED,
        "inputs": {"message": "hi"},
        "label": "ham",
        "probabilities": {"ham": 0.9, "spam": 0.1},
        "predicted_at": timezone.now().isoformat(),
        "latency_ms": 1.0,
    }
    telemetry = api.post(
        f"/api/v1/models/{NAME}/edge/telemetry",
        {"alias": "staging", "items": [item]},
        format="json",
    )
    assert telemetry.status_code == 403
    assert not PredictionLog.objects.exists()

    ds = token_client(_user(make_user, "requesters"))
    assert ds.get(f"/api/v1/models/{NAME}/edge?alias=staging").status_code == 200
    reported = ds.post(
        f"/api/v1/models/{NAME}/edge/telemetry",
        {"alias": "staging", "items": [item]},
        format="json",
    )
    assert reported.status_code == 200, reported.content
    assert PredictionLog.objects.get().served_as == "elevated"
