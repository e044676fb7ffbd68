"""Smoke: the stack serves a prediction from the production alias."""

NUMBER = 0
TITLE = "Stack smoke test"
FAST = True


def run(ctx) -> None:
    response = ctx.predict(["WINNER!! claim your free prize now, call 09061701461"])
    ctx.say(f"POST /api/v1/models/sms-spam/predict -> {response.status}")
    ctx.expect(response.status == 200, f"predict answered {response.status}")
    body = response.json()
    ctx.figure("served version", body.get("model_version", body.get("version")))
