"""bench/load.py at a tiny size, so the load tool cannot rot: real gunicorn and Celery worker processes over the
tests' PostgreSQL database and a private redis-server, a few dozen API steps of the issue 11 mix, its tables.

It asserts that every step succeeded and that the tables printed, never a speed (speed lives in bench/).
"""
from __future__ import annotations

import shutil

import pytest

from tests.conftest import TEST_MODULE, backend, require_service

pytestmark = pytest.mark.one_backend


def test_load_tool_drives_the_mix_through_real_processes(runtime, tmp_path, capsys):
    # rules DST-1, REV-1, ONL-1, ONL-2: filings submitted and approved, invitations sent, answered and approved
    if backend() != "postgresql":
        pytest.skip("the load tool measures the production stack: PostgreSQL only")
    if shutil.which("redis-server") is None:
        require_service("redis-server", "the load tool starts a private Redis as the Celery broker")
    from bench.load import (
        KINDS,
        Client,
        Flows,
        Stack,
        closed_loop,
        measure,
        populate,
        print_kinds,
        print_windows,
    )

    stack = Stack(tmp_path, web_workers=1, threads=2, worker_concurrency=1, beat=False, sync=False,
                  url=runtime.settings.database_url, extra_env={"GRADFLOW_EXTRA_MODULES": TEST_MODULE})
    try:
        stack.prepare()
        world = populate(stack.url, schools=1, depts=2, filings=8, signings=8, employers=2)
        stack.start()

        async def go():
            async with Client(stack.base, sources=4) as client:
                return await closed_loop(client, Flows(world), 2, 28)

        window = measure(stack, "smoke", go)
        print_windows("smoke", [window])
        print_kinds("smoke kinds", window)
    finally:
        stack.stop()
    out = capsys.readouterr().out
    res = window.res
    assert not res.errors, (dict(res.errors), res.samples)
    assert res.steps >= 28 and res.flows["failed"] == 0 and res.flows["done"] == res.flows["started"]
    assert {k for k, v in res.ms.items() if v} >= set(KINDS)  # both processes, every kind of step
    assert window.cpu.get("web", 0) > 0 and window.cpu.get("postgres", 0) > 0  # the sampler saw the processes
    assert "steps/s" in out and "school approve (signing)" in out


def test_the_stack_floor_bench_runs_its_endpoints_under_gunicorn(capsys):
    # the floor bench (bench/stack_floor.py): the chosen stack without gradflow, so its table cannot rot
    if backend() != "postgresql":
        pytest.skip("the floor bench measures the production stack: PostgreSQL only")
    from bench.stack_floor import main

    rows = main(["--requests", "40", "--unloaded", "10", "--k", "3", "--concurrency", "2"])
    out = capsys.readouterr().out
    assert [r[0] for r in rows] == ["/noop", "/core/3", "/orm/3"]
    assert all(r[-1] == 0 for r in rows), rows  # every request answered 200
    assert all(float(r[5]) > 0 for r in rows)  # a rate was measured
    assert [r[1] for r in rows] == [0, 3, 3]
    assert float(rows[0][9]) == 0  # /noop never reached the database
    assert "The stack's floor" in out and "ms of machine CPU per step" in out
