"""The compose stack under test: engine choice, image builds, phased start,
health waits, exec and HTTP helpers (used by deploy/compose_check.py).

Docker: ``docker compose`` when a Docker engine answers. Otherwise rootful
podman with podman-compose (PyPI, >= 1.6). podman-compose ignores
``condition: service_healthy`` on podman < 4.6 and podman runs healthchecks
from systemd timers, which a machine without systemd lacks; so the stack is
started in dependency order by this module, which also runs each container's
healthcheck (``podman healthcheck run``) at its configured interval.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
COMPOSE_FILE = ROOT / "docker-compose.yml"
HOST_CA = Path("/etc/ssl/certs/ca-certificates.crt")

# The long-running services with a healthcheck: web, a Celery pool per queue
# (core.queues), the stream consumer.
APP_PROCESSES = [
    "web",
    "worker",
    "worker-monitoring",
    "worker-serving",
    "worker-training",
    "stream",
]
# Start order: each phase waits for the health (or exit) of the one before.
PHASES = (
    ("data services", ["postgres", "redis", "mail"], ["postgres", "redis"]),
    ("MLflow server", ["mlflow"], ["mlflow"]),
    ("migrations", ["migrate"], []),
    ("application", [*APP_PROCESSES, "beat"], APP_PROCESSES),
)
APP_SERVICES = ["migrate", *APP_PROCESSES, "beat"]


class CheckFailed(Exception):
    """A step's expectation did not hold."""


def run(
    args, *, timeout: float, env=None, check=True, input_text=None, both=False
) -> str:
    """Run a command; its stdout (stripped; with ``both``, stdout and stderr).
    Raises CheckFailed with the tail of its output when it fails or times out."""
    try:
        done = subprocess.run(
            args,
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
            input=input_text,
            cwd=ROOT,
        )
    except subprocess.TimeoutExpired as exc:
        raise CheckFailed(
            f"{' '.join(map(str, args[:6]))} timed out ({timeout:.0f} s)"
        ) from exc
    if check and done.returncode != 0:
        tail = (done.stdout[-1500:] + "\n" + done.stderr[-2500:]).strip()
        raise CheckFailed(
            f"{' '.join(map(str, args[:8]))} exited {done.returncode}:\n{tail}"
        )
    return done.stdout.strip()


@dataclass
class Engine:
    """The container engine and its compose front end."""

    kind: str  # docker | podman
    compose: list[str]

    @classmethod
    def detect(cls) -> Engine:
        forced = os.environ.get("COMPOSE_CHECK_ENGINE", "")
        docker = shutil.which("docker")
        if forced in ("", "docker") and docker:
            probe = subprocess.run(
                [docker, "info", "--format", "{{.ServerVersion}}"],
                capture_output=True,
                text=True,
                timeout=20,
                check=False,
            )
            if probe.returncode == 0:
                return cls("docker", [docker, "compose"])
        if forced in ("", "podman") and shutil.which("podman"):
            local = Path(sys.executable).parent / "podman-compose"
            front = str(local) if local.exists() else shutil.which("podman-compose")
            if front is None:
                raise CheckFailed(
                    "podman found but not podman-compose (pip install podman-compose)"
                )
            return cls("podman", [front])
        raise CheckFailed("neither a Docker engine nor podman is available")

    def versions(self) -> str:
        engine = run([self.kind, "--version"], timeout=30)
        front = run([*self.compose, "version"], timeout=60, check=False).splitlines()
        front_line = next((line for line in front if "version" in line.lower()), "")
        return f"{engine}; {front_line.strip()}"

    def image_size(self, tag: str) -> int:
        return int(
            run(
                [self.kind, "image", "inspect", tag, "--format", "{{.Size}}"],
                timeout=30,
            )
        )

    def image_exists(self, tag: str) -> bool:
        done = subprocess.run(
            [self.kind, "image", "inspect", tag],
            capture_output=True,
            timeout=30,
            check=False,
        )
        return done.returncode == 0

    def build(
        self, *, tag: str, context: Path, base_image: str, timeout: float
    ) -> None:
        args = [
            self.kind,
            "build",
            "-t",
            tag,
            "--build-arg",
            f"BASE_IMAGE={base_image}",
        ]
        if self.kind == "podman":
            # docker format keeps HEALTHCHECK; host network reaches the package
            # registries as the host does
            args += ["--format", "docker", "--network=host"]
            if HOST_CA.exists():
                args += [
                    "-v",
                    f"{HOST_CA}:/etc/ssl/certs/host-ca.crt:ro",
                    "--build-arg",
                    "PIP_CERT=/etc/ssl/certs/host-ca.crt",
                ]
        out = run([*args, str(context)], timeout=timeout, both=True)
        steps = len(re.findall(r"^(?:\[[\d/]+\] )?STEP \d+/\d+", out, re.M))
        cached = len(re.findall(r"Using cache", out))
        if not steps:
            # BuildKit's plain progress: "#7 [build 4/6] RUN ...", "#7 CACHED"
            steps = len(set(re.findall(r"^#(\d+) \[[^\]]*\d+/\d+\]", out, re.M)))
            cached = len(re.findall(r"^#\d+ CACHED", out, re.M))
        return f"{cached} of {steps} steps from the layer cache" if steps else ""


@dataclass
class Stack:
    """One compose project on 127.0.0.1 ports."""

    engine: Engine
    project: str
    env: dict[str, str]
    web_port: int
    mlflow_port: int
    mail_port: int
    _pump: HealthPump | None = field(default=None, repr=False)

    # ---------------------------------------------------------------- compose
    def compose(self, *args: str, timeout: float = 600) -> str:
        command = [
            *self.engine.compose,
            "-p",
            self.project,
            "-f",
            str(COMPOSE_FILE),
            *args,
        ]
        return run(command, timeout=timeout, env={**os.environ, **self.env})

    def containers(
        self, service: str | None = None, *, running_only=False
    ) -> list[str]:
        args = [self.engine.kind, "ps", "--format", "{{.Names}}"]
        if not running_only:
            args.append("-a")
        args += ["--filter", f"label=com.docker.compose.project={self.project}"]
        if service:
            args += ["--filter", f"label=com.docker.compose.service={service}"]
        return [n for n in run(args, timeout=30).splitlines() if n]

    def container(self, service: str) -> str:
        names = self.containers(service)
        if not names:
            raise CheckFailed(f"no container for service {service}")
        return names[0]

    def inspect(self, name: str) -> dict:
        return json.loads(run([self.engine.kind, "inspect", name], timeout=30))[0]

    def exec(self, service: str, *command: str, timeout: float = 300) -> str:
        return run(
            [self.engine.kind, "exec", self.container(service), *command],
            timeout=timeout,
        )

    def manage(self, *args: str, timeout: float = 600) -> str:
        return self.exec("web", "python", "manage.py", *args, timeout=timeout)

    def psql(self, sql: str) -> str:
        return self.exec(
            "postgres", "psql", "-U", "modelgate", "-d", "modelgate", "-tAc", sql
        )

    # ------------------------------------------------------------- lifecycle
    def start_pump(self) -> None:
        if self.engine.kind == "podman" and self._pump is None:
            self._pump = HealthPump(self)
            self._pump.start()

    def stop_pump(self) -> None:
        if self._pump is not None:
            self._pump.stop()
            self._pump = None

    def up(self, *, timeout: float) -> list[str]:
        """Start the stack phase by phase; one line per phase with its time."""
        self.start_pump()
        lines = []
        for name, services, healthy in PHASES:
            started = time.monotonic()
            self.compose(
                "up", "-d", "--no-build", "--no-deps", *services, timeout=timeout
            )
            if name == "migrations":
                self.wait_exit("migrate", timeout=timeout)
            for service in healthy:
                self.wait_healthy(service, timeout=timeout)
            lines.append(
                f"{name} ({', '.join(services)}): {time.monotonic() - started:.1f} s"
            )
        beat = self.containers("beat", running_only=True)
        if len(beat) != 1:
            raise CheckFailed(
                f"{len(beat)} beat containers running, expected exactly 1"
            )
        return lines

    def down(self, *, volumes: bool, timeout: float = 300) -> None:
        self.stop_pump()
        self.compose("down", *(["-v"] if volumes else []), timeout=timeout)

    def remove(self, services: list[str]) -> None:
        names = [n for s in services for n in self.containers(s)]
        if names:
            run([self.engine.kind, "rm", "-f", *names], timeout=120)

    def wait_healthy(self, service: str, *, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        name = self.container(service)
        while True:
            state = self.inspect(name)["State"]
            health = (state.get("Health") or state.get("Healthcheck") or {}).get(
                "Status"
            )
            if health == "healthy":
                return
            if state.get("Status") in ("exited", "dead") or health == "unhealthy":
                status = health or state.get("Status")
                raise CheckFailed(f"{service} is {status}:\n{self.logs(service)}")
            if time.monotonic() > deadline:
                raise CheckFailed(
                    f"{service} not healthy in {timeout:.0f} s:\n{self.logs(service)}"
                )
            time.sleep(2)

    def wait_exit(self, service: str, *, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        name = self.container(service)
        while True:
            state = self.inspect(name)["State"]
            if state.get("Status") in ("exited", "stopped"):
                if state.get("ExitCode") != 0:
                    code = state.get("ExitCode")
                    raise CheckFailed(f"{service} exited {code}:\n{self.logs(service)}")
                return
            if time.monotonic() > deadline:
                raise CheckFailed(f"{service} still running after {timeout:.0f} s")
            time.sleep(2)

    def logs(self, service: str, lines: int = 40) -> str:
        names = self.containers(service)
        if not names:
            return "(no container)"
        done = subprocess.run(
            [self.engine.kind, "logs", "--tail", str(lines), names[0]],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
        return (done.stdout + done.stderr)[-4000:]

    # ------------------------------------------------------------------ HTTP
    def http(
        self,
        path: str,
        *,
        method: str = "GET",
        body: dict | None = None,
        token: str | None = None,
        bearer: str | None = None,
        port: int | None = None,
        basic: tuple[str, str] | None = None,
        timeout: float = 30,
    ) -> tuple[int, bytes]:
        """One request on a new connection to 127.0.0.1 (the web port by
        default), as the TLS proxy in front of web would send it."""
        url = f"http://127.0.0.1:{port or self.web_port}{path}"
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(url, data=data, method=method)  # noqa: S310
        request.add_header("X-Forwarded-Proto", "https")
        if data is not None:
            request.add_header("Content-Type", "application/json")
        if token:
            request.add_header("Authorization", f"Token {token}")
        if bearer:
            request.add_header("Authorization", f"Bearer {bearer}")
        if basic:
            import base64

            pair = base64.b64encode(f"{basic[0]}:{basic[1]}".encode()).decode()
            request.add_header("Authorization", f"Basic {pair}")
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
                return response.status, response.read()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read()

    def json(self, path: str, *, expect: int | tuple = 200, **kwargs) -> dict:
        status, raw = self.http(path, **kwargs)
        expected = (expect,) if isinstance(expect, int) else expect
        if status not in expected:
            raise CheckFailed(
                f"{kwargs.get('method', 'GET')} {path}: HTTP {status}: {raw[:600]!r}"
            )
        return json.loads(raw) if raw else {}


class HealthPump(threading.Thread):
    """Runs each container's healthcheck at its interval (podman without systemd)."""

    def __init__(self, stack: Stack):
        super().__init__(name="health-pump", daemon=True)
        self.stack = stack
        self._halt = threading.Event()
        self._next: dict[str, float] = {}
        self._busy: set[str] = set()

    def stop(self) -> None:
        self._halt.set()
        self.join(timeout=30)

    def run(self) -> None:
        while not self._halt.wait(1.0):
            try:
                names = self.stack.containers(running_only=True)
            except CheckFailed:
                continue
            now = time.monotonic()
            for name in names:
                if name in self._busy or self._next.get(name, 0) > now:
                    continue
                interval = self._interval(name)
                if interval is None:
                    self._next[name] = now + 3600
                    continue
                self._next[name] = now + interval
                self._busy.add(name)
                threading.Thread(target=self._check, args=(name,), daemon=True).start()

    def _interval(self, name: str) -> float | None:
        try:
            config = self.stack.inspect(name)["Config"].get("Healthcheck") or {}
        except (CheckFailed, IndexError, KeyError):
            return None
        if not config.get("Test") or config["Test"][0] == "NONE":
            return None
        # the first checks come sooner: a starting service is probed every 3 s
        state = self.stack.inspect(name)["State"]
        status = (state.get("Health") or state.get("Healthcheck") or {}).get("Status")
        interval = (config.get("Interval") or 30_000_000_000) / 1e9
        return 3.0 if status in (None, "", "starting") else interval

    def _check(self, name: str) -> None:
        try:
            subprocess.run(
                [self.stack.engine.kind, "healthcheck", "run", name],
                capture_output=True,
                timeout=60,
                check=False,
            )
        except subprocess.TimeoutExpired:
            pass
        finally:
            self._busy.discard(name)
