"""Object level: one API client cannot read or label another client's
predictions, nor see its batch jobs, by id (404, as for an unknown id); lists
never include them. Each client still reaches its own (the control)."""

from __future__ import annotations

from tests.reliability.web import Browser, upload_batch

NUMBER = 4
TITLE = "Object level: clients see only their own predictions and jobs"
FAST = False

CLIENTS = ("api_client", "api_client_2")


def _own_objects(ctx, role: str) -> dict:
    predictions = []
    for i in range(3):
        answer = ctx.predict([f"object level {role} {i}"], role=role)
        ctx.expect(answer.status == 200, f"{role} predict answered {answer.status}")
        predictions += [p["prediction_id"] for p in answer.json()["predictions"]]
    job = upload_batch(ctx, role, ["hello", "free prize"])
    ctx.expect(job.status == 202, f"{role} batch upload answered {job.status}")
    return {"predictions": predictions, "job": job.json()["id"]}


def _listed(ctx, role: str, path: str, key: str) -> set[str]:
    seen: set[str] = set()
    page = 1
    while True:
        answer = ctx.request("GET", f"{path}?page={page}&page_size=100", role=role)
        ctx.expect(answer.status == 200, f"GET {path} as {role}: {answer.status}")
        body = answer.json()
        seen |= {str(item[key]) for item in body["results"]}
        if not body.get("next"):
            return seen
        page += 1


def run(ctx) -> None:
    ctx.orm()
    from inference.models import Feedback

    objects = {role: _own_objects(ctx, role) for role in CLIENTS}
    problems: list[str] = []
    attempts = 0

    def expect_status(what, got, wanted):
        nonlocal attempts
        attempts += 1
        if got != wanted:
            problems.append(f"{what}: {got}, expected {wanted}")

    for me, other in (CLIENTS, CLIENTS[::-1]):
        mine, theirs = objects[me], objects[other]
        # control: my own objects
        own = ctx.request(
            "GET", f"/api/v1/predictions/{mine['predictions'][0]}", role=me
        )
        expect_status(f"{me} reads own prediction", own.status, 200)
        own_job = ctx.request("GET", f"/api/v1/batch-jobs/{mine['job']}", role=me)
        expect_status(f"{me} reads own batch job", own_job.status, 200)
        # the other client's objects by id
        for pid in theirs["predictions"]:
            read = ctx.request("GET", f"/api/v1/predictions/{pid}", role=me)
            expect_status(f"{me} reads {other}'s prediction", read.status, 404)
            label = ctx.request(
                "POST",
                f"/api/v1/predictions/{pid}/feedback",
                role=me,
                body={"label": "spam"},
            )
            expect_status(f"{me} labels {other}'s prediction", label.status, 404)
        bulk = ctx.request(
            "POST",
            "/api/v1/feedback",
            role=me,
            body={
                "items": [
                    {"prediction_id": p, "label": "spam"} for p in theirs["predictions"]
                ]
            },
        )
        if bulk.status == 200:
            body = bulk.json()
            attempts += 1
            if body.get("errors") != len(theirs["predictions"]):
                problems.append(f"{me} bulk-labelled {other}'s predictions: {body}")
        else:
            expect_status(f"{me} bulk-labels {other}'s predictions", bulk.status, 400)
        for path in (
            f"/api/v1/batch-jobs/{theirs['job']}",
            f"/api/v1/batch-jobs/{theirs['job']}/results",
        ):
            answer = ctx.request("GET", path, role=me)
            expect_status(f"{me} GET {path} of {other}", answer.status, 404)
        # lists
        listed = _listed(ctx, me, "/api/v1/predictions", "prediction_id")
        leaked = listed & set(theirs["predictions"])
        attempts += 1
        if leaked or not set(mine["predictions"]) <= listed:
            problems.append(f"{me}'s prediction list: {len(leaked)} of {other}'s")
        jobs = _listed(ctx, me, "/api/v1/batch-jobs", "id")
        attempts += 1
        if theirs["job"] in jobs or mine["job"] not in jobs:
            problems.append(f"{me}'s batch job list shows {other}'s job")
        # the batch pages, signed in through the login page
        browser = Browser(ctx)
        browser.login(me)
        for path in (f"/batch/{theirs['job']}", f"/batch/{theirs['job']}/results"):
            page = browser.send("GET", path)
            expect_status(f"{me} opens {path} of {other}", page.status, 404)
        listing = browser.send("GET", "/batch/")
        attempts += 1
        if theirs["job"].encode() in listing.body:
            problems.append(f"{me}'s batch page lists {other}'s job")

    labelled = Feedback.objects.filter(
        prediction__prediction_id__in=objects["api_client"]["predictions"]
        + objects["api_client_2"]["predictions"]
    ).count()
    for line in problems:
        ctx.say(f"  {line}")
    ctx.say(
        "each client: 3 predictions and 1 batch job; the other client tried "
        "to read, label (one by one and in bulk), fetch results and list them"
    )
    ctx.figure("cross-client attempts", attempts)
    ctx.figure(
        "attempts that reached another client's object", len(problems), not problems
    )
    ctx.figure(
        "feedback stored on another client's predictions", labelled, labelled == 0
    )
