"""Test-only process module: the BPMN under tests/data, a timer-driven service task and its sender.

Registered by tests/conftest.py (and by the worker subprocess through GRADFLOW_EXTRA_MODULES);
production never loads it.
"""
from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

from domain.modules import ProcessModule
from engine.services import StepContext

DATA = Path(__file__).resolve().parent.parent.parent / "data"


# A switch for tests of a failing timer step (issue 10): an instance started with data {"flaky": True} has its
# handler fail while BROKEN["on"] is set; the test "fixes the handler" by clearing it. Instances without the
# flag never look at it, so other tests are unaffected.
BROKEN = {"on": False}
CALLS: list[int] = []  # instance ids whose flaky handler ran to the end


class HandlerBroken(RuntimeError):
    pass


def emit_ping(ctx: StepContext, data: dict[str, Any], params: dict[str, Any]) -> None:
    """tests/data/timer_outbox.bpmn: a timer-driven side effect."""
    if data.get("flaky"):
        if BROKEN["on"]:
            raise HandlerBroken("测试处理程序故障：网关不可用")
        CALLS.append(ctx.instance.id)
    if data.get("pause_ms"):  # a handler that takes time (a slow gateway): the timer helpers' test
        time.sleep(float(data["pause_ms"]) / 1000)
    ctx.emit("test.ping", {"instance_id": ctx.instance.id, "due_at": data.get("due_at")})


def deliver_ping(row: Any, _session: Any) -> None:
    from domain.notify import spool

    spool("ping", row)


# A slow step for the fault tests (tests/test_faults.py): a web subprocess started with GRADFLOW_TEST_SLOW_STEP=<file>
# holds every step, once its rows are written and before it commits, while that file exists (it writes
# <file>.reached with the instance id first), so the test can kill the process mid-step. Unset: nothing happens.
SLOW_STEP_ENV = "GRADFLOW_TEST_SLOW_STEP"


def slow_step(ctx: StepContext) -> None:
    flag = os.environ.get(SLOW_STEP_ENV)
    if not flag or not os.path.exists(flag):
        return
    Path(flag + ".reached").write_text(str(ctx.instance.id), encoding="utf-8")
    deadline = time.monotonic() + 60
    while os.path.exists(flag) and time.monotonic() < deadline:
        time.sleep(0.05)


def module() -> ProcessModule:
    return ProcessModule(name="testkit", title="测试", bpmn_dir=DATA,
                         process_ids=("timer_outbox", "review_without_return"),
                         handlers={"test.outbox": emit_ping}, senders={"test.ping": deliver_ping},
                         step_hooks=(slow_step,))

