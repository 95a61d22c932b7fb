"""Celery as a thin shell: each task opens a runtime and calls a plain function.

Embedded mode (no CELERY_BROKER_URL): tasks run eagerly in-process and an
in-process scheduler thread (gradflow run) calls them periodically.
Production: a Redis (or RabbitMQ) broker, `gradflow worker` and `gradflow beat`.
"""
from __future__ import annotations

import logging
from functools import lru_cache

from celery import Celery
from celery.signals import worker_process_init

from core.config import load_settings

log = logging.getLogger(__name__)
# SpiffWorkflow logs every task state change at INFO, about 15 lines per timer step at the worker's INFO level
logging.getLogger("spiff").setLevel(logging.WARNING)
settings = load_settings()
PERIOD = settings.timer_poll_seconds
DEFAULT_QUEUE, OUTBOX_QUEUE, TIMERS_QUEUE, DOCUMENTS_QUEUE = "celery", "outbox", "timers", "documents"
ALL_QUEUES = ",".join((DEFAULT_QUEUE, OUTBOX_QUEUE, TIMERS_QUEUE, DOCUMENTS_QUEUE))
app = Celery("gradflow", broker=settings.celery_broker_url, backend=settings.celery_result_backend or None)
app.conf.update(
    task_always_eager=settings.celery_eager,
    task_acks_late=True,  # a worker that dies mid-task leaves the message for another
    task_reject_on_worker_lost=True,
    worker_prefetch_multiplier=1,
    task_ignore_result=True,
    broker_connection_retry_on_startup=True,
    # A worker that lost the broker retries for ever (Celery's default gives up and exits after 100 attempts,
    # about 46 minutes of outage); kombu's back-off grows by 2 s an attempt up to 30 s, so after a one-minute
    # outage delivery resumes within about 15 s of the broker's return (bench/faults.py, issue 12).
    broker_connection_max_retries=None,
    timezone="Asia/Shanghai",
    # Timers and delivery have queues of their own, so a due timer never waits behind a backlog of deliveries,
    # renders or imports (the 30-minute soak of issue 12 fired only 99 of 280 timers within one period while
    # they shared one queue). `gradflow worker` consumes every queue; production adds a small worker on
    # `timers` alone (`gradflow worker --queues timers --concurrency N` with GRADFLOW_TIMER_WORKERS=N,
    # bench/README.md).
    task_routes={
        "gradflow.fire_due_timers": {"queue": TIMERS_QUEUE},
        "gradflow.deliver_outbox": {"queue": OUTBOX_QUEUE},
        "gradflow.render_agreement": {"queue": DOCUMENTS_QUEUE},  # ~130 ms each: never ahead of a delivery
    },
    beat_schedule={
        # a tick still queued after one period is dropped (`expires`): the next tick does the same work
        "fire-due-timers": {"task": "gradflow.fire_due_timers", "schedule": float(PERIOD),
                            "options": {"expires": float(PERIOD)}},
        "deliver-outbox": {"task": "gradflow.deliver_outbox", "schedule": float(PERIOD),
                           "options": {"expires": float(PERIOD)}},
        "sweep-storage": {"task": "gradflow.sweep_storage", "schedule": 6 * 3600.0},
    },
)


@lru_cache(maxsize=1)
def runtime():
    """The worker's runtime. It does not deploy: `gradflow deploy` is the one explicit step, and
    new instances start on the newest version in the database."""
    from gradflow.runtime import build_runtime

    return build_runtime(settings)


@worker_process_init.connect
def _warm_runtime(**_kwargs) -> None:
    """Each pool process builds its runtime when it starts, not in its first task: a timer helper sent to an
    idle process starts firing at once (building it, the specs parsed, takes about a second)."""
    try:
        rt = runtime()
        with rt.Session() as session:
            for process_id in (pid for module in rt.modules.modules for pid in module.process_ids):
                try:
                    rt.registry.load(session, rt.registry.latest_version_id(session, process_id))
                except Exception:  # noqa: BLE001 - not deployed (yet): its first step parses it
                    session.rollback()
    except Exception as exc:  # noqa: BLE001 - the database may be down at start: the first task builds it
        log.warning("specs not parsed at process start: %s", exc)


@app.task(name="gradflow.fire_due_timers")
def fire_due_timers_task(helper: bool = False) -> int:
    """The beat's tick: fire what is due for most of a period (at most 1,000 a tick capped a peak of expiries
    at ~66 a second). When a full batch leaves more due, the tick sends GRADFLOW_TIMER_WORKERS - 1 helpers
    (which send none) to drain beside it on the other processes of the `timers` worker; they share the due
    instances through FOR UPDATE SKIP LOCKED, and a helper still queued after a period is dropped."""
    from engine.timers import fire_due_timers

    rt = runtime()
    helpers = 0 if helper or settings.celery_eager else settings.timer_workers - 1

    def send_helpers() -> None:
        try:
            for _ in range(helpers):
                fire_due_timers_task.apply_async(kwargs={"helper": True}, expires=float(PERIOD))
        except Exception as exc:  # noqa: BLE001 - the broker is down: this tick drains alone
            log.warning("could not send timer helpers: %s", exc)

    return fire_due_timers(rt.Session, rt.runner, limit=None, seconds=0.8 * PERIOD,
                           on_backlog=send_helpers if helpers else None)


@app.task(name="gradflow.deliver_outbox")
def deliver_outbox_task() -> int:
    from engine.outbox import deliver_pending

    rt = runtime()
    # drain what is due for most of a period (the next tick, if this one is still running, is dropped)
    return deliver_pending(rt.Session, rt.extensions.senders, limit=None, seconds=0.8 * PERIOD)


@app.task(name="gradflow.sweep_storage")
def sweep_storage_task() -> int:
    """Uploads no form took up within a day, then the files no row names (issue 12)."""
    from domain import attachments, blobs

    with runtime().Session() as session:
        removed = attachments.sweep_unused(session)
        return removed + len(blobs.sweep(session))


@app.task(name="gradflow.render_agreement")
def render_agreement_task(agreement_id: int) -> int:
    """Render and cache one e-agreement now (the page asks when no cached copy exists)."""
    from core.cpu import lower_priority
    from processes.agreements.pdf import render_and_cache

    rt = runtime()
    # A worker's render goes after the steps (issue 11). Not in the embedded default, whose eager tasks run in a
    # thread of the web process: a thread descheduled while it holds the GIL would hold up the requests.
    step = 0 if rt.settings.celery_eager else rt.settings.render_nice
    with lower_priority(step), rt.Session() as session:
        doc = render_and_cache(session, agreement_id)
        session.commit()
        return doc.id


@app.task(name="gradflow.import_graduates")
def import_graduates_task(job_id: int) -> str:
    """GRAD-1: run (or resume, after a lost worker: acks are late) one basic-info import in batches."""
    from processes.roster.importing import run_job

    return run_job(runtime().Session, job_id)
