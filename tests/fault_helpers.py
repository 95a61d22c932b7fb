"""Real processes for the concurrency and fault tests (issue 12 items 3 and 4) and bench/faults.py.

A web server (gunicorn running gradflow.wsgi:app, as in production), a private Redis and a private PostgreSQL,
each on a free port under a temporary directory: the tests stop, kill and restart these, never the machine's own
PostgreSQL (5432), Redis (6379) or RabbitMQ.
"""
from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
TEST_MODULE = "tests.modules.testkit"
PG_BIN = Path(os.environ.get("GRADFLOW_TEST_PG_BIN", "/usr/local/bin"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(check: Callable[[], Any], timeout: float, what: str, interval: float = 0.05) -> Any:
    """Poll `check` until it returns something truthy; fail with `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f}s: {what}")
        time.sleep(interval)


def read_log(path: Path, tail: int = 4000) -> str:
    try:
        return path.read_text(encoding="utf-8", errors="replace")[-tail:]
    except FileNotFoundError:
        return "(no log)"


class Process:
    """A subprocess in its own process group (its children die with it), logging to a file."""

    def __init__(self, args: list[str], env: dict[str, str], log_path: Path):
        self.args, self.log_path = args, log_path
        self._log = open(log_path, "ab")
        self.proc = subprocess.Popen(args, env=env, cwd=str(ROOT), stdout=self._log, stderr=subprocess.STDOUT,
                                     start_new_session=True)

    @property
    def pid(self) -> int:
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc.poll() is None

    def stop(self, timeout: float = 15) -> None:
        try:
            if self.alive():
                self.proc.send_signal(signal.SIGTERM)
                try:
                    self.proc.wait(timeout=timeout)
                except subprocess.TimeoutExpired:
                    self.proc.kill()
                    self.proc.wait(timeout=5)
        finally:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)  # leftovers of this group only
            except (ProcessLookupError, PermissionError):
                pass
            self._log.close()


def gradflow_command(*args: str) -> list[str]:
    script = Path(sys.executable).with_name("gradflow")
    return [str(script), *args] if script.exists() else [sys.executable, "-m", "gradflow.cli", *args]


def app_env(database_url: str, var_dir: Path, **extra: str) -> dict[str, str]:
    """The environment of a web or worker subprocess over the tests' database, with the test module loaded."""
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "SECRET_KEY": "faults-" + uuid.uuid4().hex,
        "GRADFLOW_VAR_DIR": str(var_dir),
        "GRADFLOW_EXTRA_MODULES": TEST_MODULE,
        "PYTHONPATH": str(ROOT),
        "PYTHONUNBUFFERED": "1",
        "GRADFLOW_PASSWORD_HASH": os.environ.get("GRADFLOW_PASSWORD_HASH", "pbkdf2:sha256:1"),
    }
    for name in ("CELERY_BROKER_URL", "CELERY_EAGER", "CELERY_RESULT_BACKEND", "GRADFLOW_MODE"):
        env.pop(name, None)
    env.update(extra)
    return env


class WebServer:
    """`gunicorn gradflow.wsgi:app` as production runs it: a master and `workers` worker processes."""

    def __init__(self, env: dict[str, str], log_path: Path, *, workers: int = 2, threads: int = 8):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        gunicorn = str(Path(sys.executable).with_name("gunicorn"))
        self.process = Process([gunicorn, "--bind", f"127.0.0.1:{self.port}", "--workers", str(workers),
                                "--threads", str(threads), "--worker-class", "gthread", "--timeout", "120",
                                "--graceful-timeout", "2", "--no-control-socket", "gradflow.wsgi:app"], env, log_path)
        self.workers = workers

    def wait_ready(self, timeout: float = 120) -> None:
        def ready():
            assert self.process.alive(), f"gunicorn exited:\n{read_log(self.process.log_path)}"
            return len(self.worker_pids()) >= self.workers and self.request("GET", "/api/v1/openapi.json")[0] == 200

        wait_until(ready, timeout, "gunicorn answering", interval=0.1)

    def worker_pids(self) -> list[int]:
        import psutil

        try:
            return [c.pid for c in psutil.Process(self.process.pid).children()]
        except psutil.NoSuchProcess:
            return []

    def request(self, method: str, path: str, body: Any = None, headers: dict | None = None,
                timeout: float = 30) -> tuple[int, dict[str, str], Any]:
        return http(method, self.url + path, body, headers, timeout)

    def stop(self) -> None:
        self.process.stop()


def http(method: str, url: str, body: Any = None, headers: dict | None = None,
         timeout: float = 30) -> tuple[int, dict[str, str], Any]:
    """One request: (status, headers, parsed JSON or text); a refused connection is status 0."""
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method,
                                 headers={"Content-Type": "application/json", **(headers or {})})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            status, head, raw = resp.status, dict(resp.headers), resp.read()
    except urllib.error.HTTPError as exc:
        status, head, raw = exc.code, dict(exc.headers), exc.read()
    except (urllib.error.URLError, ConnectionError, TimeoutError, OSError) as exc:
        return 0, {}, str(exc)
    text = raw.decode("utf-8", errors="replace")
    if head.get("Content-Type", "").startswith("application/json"):
        return status, head, json.loads(text)
    return status, head, text


def bearer(runtime: Any, username: str) -> dict[str, str]:
    """An API token for a test account, issued directly (no login round trip)."""
    from datetime import timedelta

    from sqlalchemy import select

    from domain.accounts import issue_api_token
    from domain.models import Account

    with runtime.Session() as s:
        value, _row = issue_api_token(s, s.scalar(select(Account).where(Account.username == username)),
                                      timedelta(hours=1))
        s.commit()
    return {"Authorization": "Bearer " + value}


class PrivateRedis:
    """`redis-server` on a free port that keeps nothing on disk; stop and start it at will."""

    def __init__(self, directory: Path):
        if shutil.which("redis-server") is None:
            raise FileNotFoundError("redis-server")
        self.directory, self.port = directory, free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process: Process | None = None

    def start(self) -> None:
        self.process = Process(["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
                                "--appendonly", "no", "--dir", str(self.directory)], dict(os.environ),
                               self.directory / "redis.log")

    def wait_ready(self, timeout: float = 10) -> None:
        import redis

        def ping():
            try:
                return redis.Redis.from_url(self.url, socket_timeout=1).ping()
            except redis.RedisError:
                return False

        wait_until(ping, timeout, f"redis on {self.port}")

    def stop(self) -> None:
        if self.process is not None:
            self.process.stop()
            self.process = None


class PrivatePostgres:
    """A throwaway PostgreSQL cluster (initdb + pg_ctl) on a free port, its socket in its own directory."""

    def __init__(self) -> None:
        # its own directory under /tmp: pytest's tmp_path is 0700 root's, and the server runs as postgres
        self.directory = Path(tempfile.mkdtemp(prefix="gradflow-pg-"))
        self.data, self.port = self.directory / "data", free_port()
        self.url = f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"
        self.log = self.directory / "postgres.log"

    @staticmethod
    def available() -> bool:
        return (PG_BIN / "initdb").exists() and (PG_BIN / "pg_ctl").exists()

    def _run(self, *args: str, timeout: float = 60) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
        done = subprocess.run([str(a) for a in args], env=env, capture_output=True, timeout=timeout, text=True,
                              user="postgres" if os.geteuid() == 0 else None)
        if done.returncode != 0:
            raise RuntimeError(f"{' '.join(map(str, args))} failed: {done.stdout}\n{done.stderr}\n{read_log(self.log)}")

    def init(self) -> None:
        if os.geteuid() == 0:  # PostgreSQL refuses to run as root
            shutil.chown(self.directory, "postgres")
        self._run(PG_BIN / "initdb", "-D", self.data, "-A", "trust", "-U", "postgres", "--no-sync",
                  "-E", "UTF8", "--locale=C")

    def pg_ctl(self, action: str, *extra: str) -> None:
        self._run(PG_BIN / "pg_ctl", "-D", self.data, "-l", self.log, "-w", "-t", "30",
                  "-o", f"-p {self.port} -k {self.directory} -c listen_addresses=127.0.0.1 -c fsync=off",
                  *extra, action)

    def start(self) -> None:
        self.pg_ctl("start")

    def stop(self, mode: str = "fast") -> None:
        self.pg_ctl("stop", "-m", mode)

    def destroy(self) -> None:
        try:
            self.stop("immediate")
        except (RuntimeError, subprocess.TimeoutExpired):
            pass
        shutil.rmtree(self.directory, ignore_errors=True)


def assert_consistent(runtime: Any, instance_id: int) -> None:
    """Not corrupted: the stored workflow loads, its ready user tasks are exactly the instance's open work items,
    and its status agrees with the workflow (running while it has work left, completed when it ended)."""
    from SpiffWorkflow.task import TaskState
    from sqlalchemy import select

    from engine.models import ProcessInstance, WorkItem

    with runtime.Session() as s:
        instance = s.get(ProcessInstance, instance_id)
        workflow = runtime.runner.load(s, instance)
        ready = {str(t.id) for t in workflow.get_tasks(state=TaskState.READY, manual=True)}
        open_items = set(s.scalars(select(WorkItem.task_id).where(WorkItem.instance_id == instance_id,
                                                                  WorkItem.state == "open")))
        assert open_items == ready, f"instance {instance_id}: open items {open_items} != ready tasks {ready}"
        if instance.status in ("running", "completed"):
            assert (instance.status == "completed") == workflow.is_completed(), (instance_id, instance.status)
