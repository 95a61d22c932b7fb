"""Renders yield the CPU to user steps (issue 11): the worker renders an e-agreement at a raised nice value of its
own thread, and puts it back afterwards, so the timers and deliveries the same worker runs next are not late."""
from __future__ import annotations

import os
import sys
import threading
import time
from pathlib import Path

import pytest

from core.config import ConfigError, load_settings
from core.cpu import lower_priority
from tests.conftest import require_service
from tests.processes.test_agreement_lifecycle import signed_online


def _nice() -> int:
    return os.getpriority(os.PRIO_PROCESS, threading.get_native_id())


def _linux() -> None:
    if sys.platform != "linux":
        require_service("linux", "a thread's own nice value is a Linux feature; elsewhere renders run as steps")


def test_the_block_runs_at_a_lower_priority_and_the_thread_gets_its_own_back():
    # rules DOC-1, ONL-6: a render runs after the steps, and the worker thread is restored afterwards
    _linux()
    before = _nice()
    other: list[int] = []
    go = threading.Event()

    def read_when_told() -> None:
        go.wait(10)
        other.append(_nice())

    probe = threading.Thread(target=read_when_told)  # started before: a new thread inherits its creator's value
    probe.start()
    with lower_priority(10) as raised:
        inside = _nice()
        go.set()
        probe.join()
    if raised:
        assert inside == min(19, before + 10)
        assert other == [before]  # another thread of the process keeps its priority
    else:  # an unprivileged process without RLIMIT_NICE: it could not return, so it does not go lower
        assert os.geteuid() != 0 and inside == before
    assert _nice() == before
    with lower_priority(0) as raised:
        assert not raised and _nice() == before


def test_an_error_in_the_block_still_restores_the_priority():
    # rule DOC-1: a failed render (a missing font, a bad row) leaves the worker as it was
    _linux()
    before = _nice()
    with pytest.raises(RuntimeError), lower_priority(5):
        raise RuntimeError("render failed")
    assert _nice() == before


@pytest.mark.parametrize("raw", ["20", "-1", "ten"])
def test_a_bad_render_nice_is_refused_at_start(monkeypatch, raw):
    # rule DOC-1: the setting is checked when the process starts, with the variable named
    monkeypatch.setenv("GRADFLOW_RENDER_NICE", raw)
    with pytest.raises(ConfigError, match="GRADFLOW_RENDER_NICE"):
        load_settings()


def test_the_render_task_renders_at_the_lowered_priority(runtime, world, make_graduate, make_employer, step, actor,
                                                       monkeypatch):
    # rules DOC-1, ONL-6: a worker's render of an approved e-agreement runs at GRADFLOW_RENDER_NICE
    _linux()
    from dataclasses import replace

    from gradflow import celery_app
    from gradflow.runtime import build_runtime
    from processes.agreements import pdf as agreement_pdf

    grad = make_graduate("g1")
    make_employer("hr")
    a = signed_online(runtime, step, actor, "g1", grad)
    seen: list[int] = []
    real = agreement_pdf.render_and_cache

    def recording(session, agreement_id):
        seen.append(_nice())
        return real(session, agreement_id)

    monkeypatch.setattr(agreement_pdf, "render_and_cache", recording)
    before = _nice()
    worker = build_runtime(replace(runtime.settings, celery_eager=False), enqueue=lambda *args: None)
    try:
        monkeypatch.setattr(celery_app, "runtime", lambda: worker)
        doc_id = celery_app.render_agreement_task(a.id)
    finally:
        worker.db.dispose()
    assert doc_id and _nice() == before
    expected = min(19, before + runtime.settings.render_nice) if os.geteuid() == 0 else before
    assert runtime.settings.render_nice == 10 and seen == [expected]
    # the embedded default's eager task runs in a thread of the web process: it keeps the thread's priority
    monkeypatch.setattr(celery_app, "runtime", lambda: runtime)
    assert runtime.settings.celery_eager and celery_app.render_agreement_task(a.id) == doc_id
    assert seen == [expected, before]


def _thread_nices(pid: int) -> list[int]:
    """The nice value of every thread of a process (field 19 of /proc/<pid>/task/<tid>/stat)."""
    out = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            stat = (task / "stat").read_text()
        except OSError:
            continue
        out.append(int(stat.rsplit(")", 1)[1].split()[16]))
    return out


@pytest.mark.service
@pytest.mark.one_backend
def test_a_real_documents_worker_renders_at_the_lowered_priority_and_returns(runtime, world, make_graduate,
                                                                            make_employer, step, actor,
                                                                            database_url, tmp_path):
    # rules DOC-1, ONL-6: `gradflow worker --queues documents` (production, a Redis broker) renders a queued
    # e-agreement with the rendering thread 10 nice values lower, and the thread is back where it was afterwards
    _linux()
    if os.geteuid() != 0:
        require_service("root", "an unprivileged worker without RLIMIT_NICE renders at its own priority")
    from urllib.parse import urlparse

    import psutil
    import redis
    from celery import Celery
    from sqlalchemy import select

    from domain.models import AgreementDocument
    from tests.conftest import REDIS_URL, port_open
    from tests.test_celery_worker import _gradflow_command, _read, _start, _stop

    broker = urlparse(REDIS_URL)
    if not port_open(broker.hostname or "127.0.0.1", broker.port or 6379):
        require_service("Redis", "the documents worker needs its broker")
    grad = make_graduate("g1")
    make_employer("hr")
    a = signed_online(runtime, step, actor, "g1", grad)
    redis.Redis.from_url(REDIS_URL).delete("documents")
    env = {**os.environ, "GRADFLOW_MODE": "production", "SECRET_KEY": "nice-" + os.urandom(8).hex(),
           "CELERY_BROKER_URL": REDIS_URL, "CELERY_EAGER": "0", "DATABASE_URL": database_url,
           "GRADFLOW_VAR_DIR": str(runtime.settings.var_dir), "PYTHONUNBUFFERED": "1"}
    env.pop("CELERY_RESULT_BACKEND", None)
    env.pop("GRADFLOW_PASSWORD_HASH", None)
    env.pop("GRADFLOW_RENDER_NICE", None)  # the default
    log_path = tmp_path / "documents-worker.log"
    proc, log = _start(_gradflow_command("worker", "--queues", "documents", "--concurrency", "1"), env, log_path)
    seen: set[int] = set()
    try:
        deadline = time.monotonic() + 60
        while "ready" not in _read(log_path) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert "ready" in _read(log_path), _read(log_path)[-3000:]
        children = psutil.Process(proc.pid).children(recursive=True)
        assert children, "the prefork pool has no child"
        Celery(broker=REDIS_URL).send_task("gradflow.render_agreement", args=[a.id], queue="documents")
        done = False
        while time.monotonic() < deadline and not done:
            for child in children:
                seen.update(_thread_nices(child.pid))
            with runtime.Session() as s:
                done = s.scalar(select(AgreementDocument.id).where(AgreementDocument.agreement_id == a.id)) is not None
            time.sleep(0.002)
        assert done, _read(log_path)[-3000:]
        time.sleep(0.2)
        after = {n for child in children for n in _thread_nices(child.pid)}
    finally:
        _stop(proc, log)
    assert 10 in seen, (seen, _read(log_path)[-2000:])  # the render ran 10 lower
    assert after == {0}, after  # and every thread of the pool process is back at the worker's own priority
