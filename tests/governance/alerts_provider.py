"""A stand-in for monitoring's open-alerts selector, following its contract:
``open_alerts_for_model(*, model_name, version) -> list[dict]``. Tests put
alerts in ``OPEN`` (governance reaches it through the OPEN_ALERTS_PROVIDER
setting, exactly as it reaches monitoring's)."""

OPEN: dict[tuple[str, int | None], list[dict]] = {}


def open_alerts_for_model(*, model_name: str, version: int | None) -> list[dict]:
    return list(OPEN.get((model_name, version), []))


def broken_provider(*, model_name: str, version: int | None) -> list[dict]:
    raise RuntimeError("monitoring database unavailable")
