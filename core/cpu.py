"""Background work that yields the CPU to user steps (issue 11).

An e-agreement render costs about 130 ms of CPU, as much as the rest of the work behind seven steps, and the
Celery worker shares the machine's cores with the web processes. Rendered with a raised nice value, it runs on
the CPU the steps leave idle: at the peak the renders wait (a download before its render is queued asks for a
few seconds' patience, DOC-1) and catch up when the load falls, instead of slowing every step.
"""
from __future__ import annotations

import logging
import os
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager

log = logging.getLogger(__name__)
MAX_NICE = 19


def _may_return_to(nice: int) -> bool:
    """Whether this process may lower a nice value back to `nice` (root, or RLIMIT_NICE allows it)."""
    if os.geteuid() == 0:
        return True
    import resource

    soft, _hard = resource.getrlimit(resource.RLIMIT_NICE)
    return soft == resource.RLIM_INFINITY or 20 - soft <= nice


@contextmanager
def lower_priority(step: int) -> Iterator[bool]:
    """Run the block with this thread's nice value raised by `step` (Linux: a thread has its own), and put it
    back afterwards. Yields whether it was raised: not when `step` is 0, off Linux, or where the process could
    not lower it again (an unprivileged process without RLIMIT_NICE), since a worker left at a low priority
    would also fire its timers late."""
    if step <= 0 or sys.platform != "linux":
        yield False
        return
    tid = threading.get_native_id()
    try:
        before = os.getpriority(os.PRIO_PROCESS, tid)
        if not _may_return_to(before):
            raised = False
        else:
            os.setpriority(os.PRIO_PROCESS, tid, min(MAX_NICE, before + step))
            raised = True
    except OSError as exc:
        log.warning("could not lower the priority of a background task: %s", exc)
        raised = False
    try:
        yield raised
    finally:
        if raised:
            try:
                os.setpriority(os.PRIO_PROCESS, tid, before)
            except OSError as exc:  # pragma: no cover - checked above
                log.warning("could not restore the priority after a background task: %s", exc)
