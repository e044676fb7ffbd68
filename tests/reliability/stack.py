"""The production-like process set of the reliability suite, on loopback.

``Stack`` starts and controls: a dedicated Redis server (so a check may stop or
freeze it without touching anything else), a local SMTP sink (aiosmtpd writing
every message to a maildir), an MLflow tracking server with basic-auth and a
PostgreSQL store, gunicorn with several workers on production settings, Celery
workers and exactly one beat. PostgreSQL is the machine's server; the stack
uses databases of its own, created afresh.

Every process logs to ``<workdir>/logs/<name>.log``; every address is 127.0.0.1.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PYTHON = sys.executable
BIN = Path(PYTHON).parent


def port_is_open(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.2)
        return sock.connect_ex((host, port)) == 0


def wait_for(
    predicate, what: str, timeout: float = 60.0, interval: float = 0.2
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(interval)
    raise TimeoutError(f"timed out after {timeout:.0f}s waiting for {what}")


def http_ok(url: str, headers: dict | None = None) -> bool:
    try:
        request = urllib.request.Request(url, headers=headers or {})
        with urllib.request.urlopen(request, timeout=2) as response:
            return response.status < 500
    except urllib.error.HTTPError as exc:
        return exc.code < 500
    except OSError:
        return False


@dataclass
class Ports:
    web: int = 8391
    redis: int = 6391
    mlflow: int = 5391
    smtp: int = 8391 + 634  # 9025


@dataclass
class Stack:
    workdir: Path
    ports: Ports = field(default_factory=Ports)
    web_workers: int = 4
    pg_admin_url: str = "postgres://postgres@127.0.0.1:5432/postgres"
    db_name: str = "modelgate_reliability"
    mlflow_db_name: str = "mlflow_reliability"
    processes: dict[str, subprocess.Popen] = field(default_factory=dict)
    # added to the environment of every process started from now on (a check
    # that sets it restarts the processes concerned, and clears it after)
    extra_env: dict[str, str] = field(default_factory=dict)
    # the environment of a fault (tests/reliability/faults) switched on for
    # the whole stack; kept apart from extra_env, which checks set themselves
    fault_env: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.workdir = Path(self.workdir).resolve()
        self.logs = self.workdir / "logs"
        self.service_password = secrets.token_urlsafe(16)
        self.secret_key = secrets.token_urlsafe(50)

    # ------------------------------------------------------------ addresses
    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.ports.web}"

    @property
    def redis_url(self) -> str:
        return f"redis://127.0.0.1:{self.ports.redis}/0"

    @property
    def database_url(self) -> str:
        return f"postgres://postgres@127.0.0.1:5432/{self.db_name}"

    @property
    def mlflow_url(self) -> str:
        return f"http://127.0.0.1:{self.ports.mlflow}"

    @property
    def maildir(self) -> Path:
        return self.workdir / "mail"

    def env(self, **extra: str) -> dict[str, str]:
        """The environment of every Modelgate process of the stack."""
        env = {
            "PATH": f"{BIN}:/usr/local/bin:/usr/bin:/bin",
            "HOME": os.environ.get("HOME", "/root"),
            "LANG": "C.UTF-8",
            "PYTHONUNBUFFERED": "1",
            "DO_NOT_TRACK": "1",
            "DJANGO_SETTINGS_MODULE": "config.settings.production",
            "DJANGO_SECRET_KEY": self.secret_key,
            "DJANGO_ALLOWED_HOSTS": "127.0.0.1,localhost",
            "DJANGO_SECURE_SSL_REDIRECT": "false",
            "MODELGATE_LOG_FORMAT": "json",
            "MODELGATE_DATA_DIR": str(self.workdir / "data"),
            "MODELGATE_SITE_URL": self.base_url,
            "DATABASE_URL": self.database_url,
            "REDIS_URL": self.redis_url,
            "MLFLOW_TRACKING_URI": self.mlflow_url,
            "MLFLOW_TRACKING_USERNAME": "modelgate",
            "MLFLOW_TRACKING_PASSWORD": self.service_password,
            "EMAIL_URL": f"smtp://127.0.0.1:{self.ports.smtp}",
            "PROMETHEUS_MULTIPROC_DIR": str(self.workdir / "prometheus"),
            "GUNICORN_BIND": f"127.0.0.1:{self.ports.web}",
            "GUNICORN_WORKERS": str(self.web_workers),
            "GUNICORN_ACCESSLOG": str(self.logs / "access.log"),
        }
        env.update(self.fault_env)
        env.update(self.extra_env)
        env.update(extra)
        return env

    # ------------------------------------------------------------ processes
    def _spawn(
        self, name: str, args: list[str], env: dict | None = None
    ) -> subprocess.Popen:
        self.logs.mkdir(parents=True, exist_ok=True)
        log = open(self.logs / f"{name}.log", "ab")  # noqa: SIM115 - owned by the process
        process = subprocess.Popen(
            args,
            cwd=ROOT,
            env=env or self.env(),
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.processes[name] = process
        return process

    def manage(self, *args: str, timeout: float = 600, **env: str) -> str:
        """Run a management command against the stack; returns its output."""
        result = subprocess.run(
            [PYTHON, "manage.py", *args],
            cwd=ROOT,
            env=self.env(**env),
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        if result.returncode != 0:
            raise RuntimeError(
                f"manage.py {' '.join(args)} failed ({result.returncode}):\n"
                f"{result.stdout[-2000:]}\n{result.stderr[-4000:]}"
            )
        return result.stdout

    def stop(self, name: str, sig: int = signal.SIGTERM, timeout: float = 20) -> None:
        process = self.processes.pop(name, None)
        if process is None or process.poll() is not None:
            return
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            return
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)

    def signal(self, name: str, sig: int) -> None:
        os.killpg(self.processes[name].pid, sig)

    # ------------------------------------------------------------ services
    def create_databases(self) -> None:
        import psycopg

        with psycopg.connect(self.pg_admin_url, autocommit=True) as conn:
            for name in (self.db_name, self.mlflow_db_name):
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
                conn.execute(f'CREATE DATABASE "{name}"')

    def start_redis(self) -> None:
        if port_is_open(self.ports.redis):
            raise RuntimeError(f"port {self.ports.redis} is taken; cannot start Redis")
        redis_server = shutil.which("redis-server") or "/usr/bin/redis-server"
        self._spawn(
            "redis",
            [
                redis_server,
                "--bind", "127.0.0.1",
                "--port", str(self.ports.redis),
                "--save", "",
                "--appendonly", "no",
                "--dir", str(self.workdir),
            ],
        )  # fmt: skip
        wait_for(lambda: port_is_open(self.ports.redis), "Redis", 20)

    def start_smtp(self) -> None:
        # aiosmtpd's Mailbox handler creates the maildir's folders only when
        # the maildir itself does not exist yet: create them all here
        for sub in ("tmp", "new", "cur"):
            (self.maildir / sub).mkdir(parents=True, exist_ok=True)
        self._spawn(
            "smtp",
            [
                PYTHON, "-m", "aiosmtpd", "-n",
                "-l", f"127.0.0.1:{self.ports.smtp}",
                "-c", "aiosmtpd.handlers.Mailbox", str(self.maildir),
            ],
        )  # fmt: skip
        wait_for(lambda: port_is_open(self.ports.smtp), "SMTP sink", 20)

    def mail_count(self) -> int:
        return (
            sum(1 for _ in (self.maildir / "new").glob("*"))
            if self.maildir.exists()
            else 0
        )

    def start_mlflow(self) -> None:
        auth_dir = self.workdir / "mlflow-auth"
        auth_dir.mkdir(parents=True, exist_ok=True)
        ini = auth_dir / "auth.ini"
        ini.write_text(
            "[mlflow]\n"
            "default_permission = READ\n"
            f"database_uri = sqlite:///{auth_dir / 'basic_auth.db'}\n"
            "admin_username = modelgate\n"
            "authorization_function = "
            "mlflow.server.auth:authenticate_request_basic_auth\n"
        )
        env = {
            "PATH": f"{BIN}:/usr/bin:/bin",
            "HOME": os.environ.get("HOME", "/root"),
            "MLFLOW_AUTH_CONFIG_PATH": str(ini),
            "MLFLOW_AUTH_ADMIN_PASSWORD": self.service_password,
            "MLFLOW_FLASK_SERVER_SECRET_KEY": secrets.token_urlsafe(16),
        }
        self._spawn(
            "mlflow",
            [
                str(BIN / "mlflow"), "server",
                "--app-name", "basic-auth",
                "--backend-store-uri",
                f"postgresql+psycopg://postgres@127.0.0.1:5432/{self.mlflow_db_name}",
                "--artifacts-destination", str(self.workdir / "mlartifacts"),
                "--serve-artifacts",
                "--host", "127.0.0.1",
                "--port", str(self.ports.mlflow),
                "--workers", "2",
            ],
            env=env,
        )  # fmt: skip
        wait_for(
            lambda: http_ok(f"{self.mlflow_url}/health"), "MLflow server", 120, 0.5
        )

    def start_web(self) -> None:
        self._spawn(
            "web",
            [PYTHON, "-m", "gunicorn", "config.wsgi", "--config", "config/gunicorn.py"],
        )
        wait_for(lambda: http_ok(f"{self.base_url}/health/live"), "gunicorn", 120, 0.5)

    def start_worker(self, name: str = "worker", concurrency: int = 2) -> None:
        self._spawn(
            name,
            [
                PYTHON, "-m", "celery", "-A", "config", "worker",
                "--loglevel", "INFO", "--concurrency", str(concurrency),
                "--hostname", f"{name}@%h", "--without-mingle", "--without-gossip",
            ],
        )  # fmt: skip

    def start_beat(self, name: str = "beat") -> None:
        self._spawn(
            name,
            [
                PYTHON, "-m", "celery", "-A", "config", "beat", "--loglevel", "INFO",
                "--scheduler", "django_celery_beat.schedulers:DatabaseScheduler",
                "--pidfile=",
            ],
        )  # fmt: skip

    def start(self) -> None:
        """Everything, in dependency order, with the demo data set up."""
        shutil.rmtree(self.workdir, ignore_errors=True)
        self.workdir.mkdir(parents=True)
        self.create_databases()
        self.start_redis()
        self.start_smtp()
        self.start_mlflow()
        self.manage("migrate", "--no-input", "-v", "0")
        self.manage("collectstatic", "--no-input", "-v", "0")
        self.manage("setup_periodic_tasks")
        self.start_web()
        self.start_worker()
        self.start_beat()

    CORE = ("redis", "smtp", "mlflow", "web", "worker", "beat")

    def is_running(self, name: str) -> bool:
        process = self.processes.get(name)
        return process is not None and process.poll() is None

    def restart(self, name: str) -> None:
        """Stop (if needed) and start one of the core processes again."""
        self.stop(name)
        {
            "redis": self.start_redis,
            "smtp": self.start_smtp,
            "mlflow": self.start_mlflow,
            "web": self.start_web,
            "worker": self.start_worker,
            "beat": self.start_beat,
        }[name]()

    def ensure_running(self) -> None:
        """After a check: resume frozen processes, stop the extra ones a check
        started, start again every core process a check stopped or killed."""
        for name in list(self.processes):
            if name not in self.CORE:
                self.stop(name)
                continue
            if self.is_running(name):
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.processes[name].pid, signal.SIGCONT)
        for name in self.CORE:
            if not self.is_running(name):
                self.restart(name)

    def shutdown(self) -> None:
        for name in list(self.processes)[::-1]:
            self.stop(name)

    def __enter__(self) -> Stack:
        try:
            self.start()
        except BaseException:
            self.shutdown()
            raise
        return self

    def __exit__(self, *exc) -> None:
        self.shutdown()
