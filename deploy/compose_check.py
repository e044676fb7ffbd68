"""`make compose-check`: build the image, bring docker-compose.yml up for
real, smoke-test it over 127.0.0.1, restart it, upgrade it, tear it down.

Every step prints what it checked and its figure; the first failure prints
the service logs, removes the stack (unless --keep) and exits 1. The whole
run is bounded by --timeout. See docs/deploy.md for a run's output.
"""

from __future__ import annotations

import argparse
import base64
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from smoke import SMOKE_STEPS, Context  # noqa: E402
from stack import APP_PROCESSES, ROOT, CheckFailed, Engine, Stack, run  # noqa: E402

OFFICIAL = {
    "BASE_IMAGE": "python:3.11-slim-bookworm",
    "POSTGRES_IMAGE": "postgres:16-alpine",
    "REDIS_IMAGE": "redis:7-alpine",
    "MAIL_IMAGE": "axllent/mailpit:v1.26",
}
STATIC_MARKER_FILE = "static/css/modelgate.css"


class Report:
    """Numbered step lines: name, outcome, seconds, figure."""

    def __init__(self) -> None:
        self.started = time.monotonic()
        self.number = 0
        self.figures: dict[str, str] = {}

    def step(self, name: str, fn) -> object:
        self.number += 1
        began = time.monotonic()
        print(f"[{self.number:2}] {name} ...", flush=True)
        result = fn()
        figure = result if isinstance(result, str) else ""
        for line in figure.splitlines() or [""]:
            if line:
                print(f"     {line}", flush=True)
        print(f"     ok ({time.monotonic() - began:.1f} s)", flush=True)
        return result


def _base_images(engine: Engine, mode: str) -> dict[str, str]:
    """The official images, or local stand-ins where they cannot be pulled."""
    if mode == "official" or engine.kind == "docker":
        return dict(OFFICIAL)
    if mode == "auto":
        pulled = subprocess.run(
            [engine.kind, "pull", "-q", OFFICIAL["BASE_IMAGE"]],
            capture_output=True,
            timeout=120,
            check=False,
        )
        if pulled.returncode == 0:
            return dict(OFFICIAL)
    out = run(["bash", str(ROOT / "deploy/local-images/build.sh")], timeout=1200)
    images = dict(line.split("=", 1) for line in out.splitlines() if "=" in line)
    missing = set(OFFICIAL) - set(images)
    if missing:
        raise CheckFailed(f"local images missing: {sorted(missing)}")
    return images


def _upgrade_context(marker: str) -> Path:
    """A copy of the build context with one static file changed (what an
    upgrade to a release with new CSS looks like)."""
    target = Path(tempfile.mkdtemp(prefix="modelgate-upgrade-"))
    files = run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard"], timeout=60
    )
    for rel in files.splitlines():
        source = ROOT / rel
        if source.is_file():
            (target / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target / rel)
    with open(target / STATIC_MARKER_FILE, "a") as handle:
        handle.write(f"\n/* {marker} */\n")
    return target


def _write_env(stack: Stack) -> str:
    """Save a kept stack's settings (its random secrets) for later compose calls."""
    folder = Path(tempfile.mkdtemp(prefix="modelgate-check-"))
    path = folder / "compose.env"
    path.write_text("".join(f"{k}={v}\n" for k, v in sorted(stack.env.items())))
    path.chmod(0o600)
    front = " ".join(stack.engine.compose)
    return f"its settings: {path} ({front} -p {stack.project} --env-file {path} ...)"


def _ports_free(ports: list[int]) -> None:
    import socket

    for port in ports:
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                raise CheckFailed(f"port 127.0.0.1:{port} is in use (set --port-base)")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--project", default="modelgate-check")
    parser.add_argument(
        "--port-base", type=int, default=18000, help="web; +50 MLflow, +25 mail"
    )
    parser.add_argument(
        "--images", choices=["auto", "official", "local"], default="auto"
    )
    parser.add_argument(
        "--timeout", type=float, default=2700, help="whole run, seconds"
    )
    parser.add_argument(
        "--keep", action="store_true", help="leave the stack up at the end"
    )
    args = parser.parse_args(argv)

    def on_alarm(*_):
        raise CheckFailed(f"the whole check exceeded --timeout {args.timeout:.0f} s")

    def on_signal(signum, _frame):
        raise CheckFailed(f"stopped by signal {signum}")

    signal.signal(signal.SIGALRM, on_alarm)
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    signal.alarm(int(args.timeout))
    report = Report()
    print(f"compose-check {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {ROOT}", flush=True)
    stack = None
    upgrade_dir = None
    try:
        engine = report.step("container engine", lambda: Engine.detect())
        print(f"     {engine.kind}: {engine.versions()}")
        images = report.step("base images", lambda: _base_images(engine, args.images))
        for key, value in images.items():
            print(f"     {key}={value}")
        prefix = "localhost/" if engine.kind == "podman" else ""
        tag = f"{prefix}modelgate:check"
        web, mlflow, mail = args.port_base, args.port_base + 50, args.port_base + 25
        env = {
            **images,
            "MODELGATE_IMAGE": tag,
            "DJANGO_SECRET_KEY": secrets.token_urlsafe(48),
            "POSTGRES_PASSWORD": secrets.token_urlsafe(24),
            "MLFLOW_SERVICE_PASSWORD": secrets.token_urlsafe(24),
            "MLFLOW_FLASK_SECRET_KEY": secrets.token_urlsafe(24),
            "MONITORING_METRICS_TOKEN": secrets.token_urlsafe(24),
            # MLflow's webhooks on: the migrate service registers the webhook
            "MLFLOW_WEBHOOK_SECRET": secrets.token_urlsafe(24),
            "MLFLOW_WEBHOOK_ENCRYPTION_KEY": base64.urlsafe_b64encode(
                secrets.token_bytes(32)
            ).decode(),
            "MODELGATE_WEB_PORT": str(web),
            "MLFLOW_PORT": str(mlflow),
            "MAIL_UI_PORT": str(mail),
            "GUNICORN_WORKERS": "4",
        }
        stack = Stack(engine, args.project, env, web, mlflow, mail)

        def clean_start() -> str:
            stack.down(volumes=True)  # a previous run's leftovers
            _ports_free([web, mlflow, mail])
            return (
                f"project {args.project}: no container, no volume; "
                f"ports {web}, {mlflow}, {mail} free"
            )

        report.step("clean slate", clean_start)

        def build() -> str:
            began = time.monotonic()
            cache = engine.build(
                tag=tag, context=ROOT, base_image=images["BASE_IMAGE"], timeout=1800
            )
            seconds = time.monotonic() - began
            report.figures["build"] = f"{seconds:.1f} s"
            size = engine.image_size(tag) / 1e9
            report.figures["size"] = f"{size:.2f} GB"
            return f"image {tag}: built in {seconds:.1f} s ({cache}), {size:.2f} GB"

        report.step("build the image", build)
        report.step(
            "stack up (phased, every healthcheck green)",
            lambda: "\n".join(stack.up(timeout=600)),
        )

        ctx = Context(stack=stack)
        for name, fn in SMOKE_STEPS:
            report.step(name, lambda fn=fn: fn(ctx))

        def restart() -> str:
            before = ctx.persisted()
            stack.down(volumes=False)
            phases = stack.up(timeout=600)
            after = ctx.persisted()
            if after != before:
                raise CheckFailed(
                    f"data changed across down/up:\n before {before}\n after  {after}"
                )
            kept = "; ".join(f"{k} {v}" for k, v in after.items())
            return "\n".join(phases + [f"kept: {kept}"])

        report.step("down, then up again: data kept", restart)

        marker = f"upgrade {secrets.token_hex(6)}"

        def rebuild() -> str:
            nonlocal upgrade_dir
            upgrade_dir = _upgrade_context(marker)
            began = time.monotonic()
            new_tag = f"{prefix}modelgate:check-upgrade"
            cache = engine.build(
                tag=new_tag,
                context=upgrade_dir,
                base_image=images["BASE_IMAGE"],
                timeout=1800,
            )
            seconds = time.monotonic() - began
            report.figures["rebuild"] = f"{seconds:.1f} s"
            stack.env["MODELGATE_IMAGE"] = new_tag
            return (
                f"{STATIC_MARKER_FILE} changed; image {new_tag} rebuilt in "
                f"{seconds:.1f} s ({cache})"
            )

        report.step("rebuild with a changed static file (code-only change)", rebuild)

        def upgrade() -> str:
            stack.remove([*APP_PROCESSES, "beat", "migrate"])
            phases = stack.up(timeout=600)
            return "\n".join(phases + [ctx.static_served(marker)])

        report.step(
            "upgrade to the rebuilt image: new static file served, no 500", upgrade
        )

        def teardown() -> str:
            stack.down(volumes=True)
            left = run(
                [
                    engine.kind,
                    "volume",
                    "ls",
                    "-q",
                    "--filter",
                    f"label=com.docker.compose.project={args.project}",
                ],
                timeout=60,
            )
            if left or stack.containers():
                raise CheckFailed(f"left behind: {left or stack.containers()}")
            return "no container, no volume left"

        if args.keep:
            print(f"     --keep: stack left running; {_write_env(stack)}")
        else:
            report.step("down -v", teardown)
        total = time.monotonic() - report.started
        figures = ", ".join(f"{k} {v}" for k, v in report.figures.items())
        print(
            f"compose-check passed: {report.number} steps in {total:.0f} s ({figures})"
        )
        return 0
    except CheckFailed as exc:
        print(f"     FAILED: {exc}", flush=True)
        if stack is not None and not args.keep:
            try:
                stack.down(volumes=True)
            except CheckFailed as down_exc:
                print(f"     (cleanup failed: {down_exc})")
        print(f"compose-check FAILED at step {report.number}", flush=True)
        return 1
    finally:
        signal.alarm(0)
        if upgrade_dir is not None:
            shutil.rmtree(upgrade_dir, ignore_errors=True)
        if stack is not None:
            stack.stop_pump()


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    sys.exit(main())
