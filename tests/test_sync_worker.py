"""PRV-3 with real parts: a Celery worker (Redis broker, `gradflow worker` + `gradflow beat`) delivers sync rows to
the real `gradflow sync-receiver`; the worker is killed with SIGKILL mid-delivery and a new one finishes the job.

Exactly once at the receiver: the killed worker's sends reached the receiver but were never acknowledged to the
outbox, so the next worker sends them again (after the claim's lease runs out) with the same Idempotency-Key,
and the receiver stores each change once (duplicates > 0, unique == the number of changes).
"""
from __future__ import annotations

import os
import signal
import time
import uuid
from urllib.parse import urlparse

import pytest
from sqlalchemy import func, select

from domain.graduate_info import register_info
from engine.models import OutboxMessage
from processes.sync.emit import KIND
from tests.conftest import REDIS_URL, port_open, require_service
from tests.test_celery_worker import _gradflow_command, _read, _start, _stop
from tests.test_sync import Receiver

# production-only: a real worker on a real broker (the embedded default delivers in-process): PostgreSQL half
pytestmark = [pytest.mark.usefixtures("world"), pytest.mark.one_backend]
WAIT_SECONDS = 60


def _undelivered(runtime) -> int:
    with runtime.Session() as s:
        return s.scalar(select(func.count()).select_from(OutboxMessage).where(
            OutboxMessage.kind == KIND, OutboxMessage.delivered_at.is_(None)))


@pytest.mark.service
def test_a_worker_killed_mid_delivery_still_delivers_each_change_exactly_once(
        runtime, database_url, make_graduate, step, tmp_path):
    # rule PRV-3
    broker = urlparse(REDIS_URL)
    host, port = broker.hostname or "127.0.0.1", broker.port or 6379
    if not port_open(host, port):
        require_service("Redis", f"nothing listens on {host}:{port} (broker for the sync worker test)")
    import redis

    redis.Redis.from_url(REDIS_URL).delete("celery", "outbox", "timers")  # ticks left by an aborted run

    grads = [make_graduate(f"g{i}") for i in range(6)]
    for g in grads:
        step(lambda s, g=g: register_info(s, g.id, "archive", {"archive_type": "转回生源地"}, "school"))
    step(lambda s: register_info(s, grads[0].id, "hukou", {"hukou_type": "转回生源地"}, "school"))
    changes = 7
    assert _undelivered(runtime) == changes

    # stores at once, answers 0.5 s later (within the 1 s timeout): a kill in between leaves stored but
    # unacknowledged changes
    receiver = Receiver(tmp_path, "--delay", "0.5")
    env = {
        **os.environ,
        "GRADFLOW_MODE": "production",
        "SECRET_KEY": "sync-worker-test-" + uuid.uuid4().hex,
        "CELERY_BROKER_URL": REDIS_URL,
        "CELERY_EAGER": "0",
        "DATABASE_URL": database_url,
        "GRADFLOW_VAR_DIR": str(tmp_path / "worker-var"),
        "GRADFLOW_TIMER_POLL_SECONDS": "1",
        "GRADFLOW_SYNC_URL": receiver.url + "changes",
        "GRADFLOW_SYNC_TIMEOUT_SECONDS": "1",  # the claim's lease: 2 x 1 + 5 = 7 s
        "PYTHONUNBUFFERED": "1",
    }
    env.pop("CELERY_RESULT_BACKEND", None)
    env.pop("GRADFLOW_PASSWORD_HASH", None)  # the tests' cheap hash is refused in production mode
    logs = {name: tmp_path / f"{name}.log" for name in ("worker1", "worker2", "beat")}
    procs = {}
    ok = False
    try:
        procs["beat"] = _start(_gradflow_command("beat"), env, logs["beat"])
        procs["worker1"] = _start(_gradflow_command("worker", "--concurrency", "1"), env, logs["worker1"])
        started = time.monotonic()
        while receiver.stats()["received"] == 0:
            assert time.monotonic() - started < WAIT_SECONDS, "the first worker sent nothing"
            assert procs["worker1"][0].poll() is None, "worker 1 exited early"
            time.sleep(0.05)
        assert _undelivered(runtime) == changes  # sent, not yet acknowledged: mid-delivery
        worker1 = procs.pop("worker1")
        os.killpg(worker1[0].pid, signal.SIGKILL)  # kill -9: the worker and its pool children, no warm shutdown
        worker1[0].wait(timeout=10)
        worker1[1].close()
        in_flight = receiver.stats()["received"]
        assert in_flight >= 1

        procs["worker2"] = _start(_gradflow_command("worker", "--concurrency", "1"), env, logs["worker2"])
        while _undelivered(runtime) > 0:
            assert time.monotonic() - started < WAIT_SECONDS, f"not delivered: {receiver.stats()}"
            assert procs["worker2"][0].poll() is None, "worker 2 exited early"
            time.sleep(0.2)
        stats = receiver.stats()
        assert stats["unique"] == changes, stats  # exactly once per change
        assert stats["duplicates"] >= 1, stats  # the unacknowledged sends came again, and were recognised
        assert stats["received"] == stats["unique"] + stats["duplicates"] and stats["failed"] == 0
        arrived = receiver.changes()
        assert sorted(int(c["key"]) for c in arrived) == sorted(
            r.id for r in _rows(runtime))  # the keys are the row ids
        first = [c["body"]["part"] for c in arrived if c["body"]["graduate"]["id"] == grads[0].id]
        assert first == ["archive", "hukou"]  # in order per graduate, across the kill
        print(f"in flight at the kill: {in_flight}; receiver: {stats}; {time.monotonic() - started:.1f}s")
        ok = True
    finally:
        for _name, (proc, log) in reversed(list(procs.items())):
            _stop(proc, log)
        receiver.stop()
        if not ok:
            for name, path in logs.items():
                print(f"----- {name} log -----\n" + _read(path))


def _rows(runtime) -> list[OutboxMessage]:
    with runtime.Session() as s:
        return list(s.scalars(select(OutboxMessage).where(OutboxMessage.kind == KIND)))
