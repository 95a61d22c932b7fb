"""Timers and delivery on queues of their own, and a delivery job that drains the backlog (issue 12 item 5:
the soak fired only 99 of 280 timers within one period while timers queued behind deliveries; issue 11: the
job delivered at most 500 rows per 15 s tick, about 33 rows a second, whatever the backlog)."""
from __future__ import annotations

from sqlalchemy import func, insert, select

from engine import outbox
from engine.models import OutboxMessage


def test_timers_and_delivery_are_routed_to_their_own_queues_and_stale_ticks_expire():
    # rules ONL-3, NOTE-2: a due invitation expires on the timer job's next tick, not after the outbox backlog
    from gradflow.celery_app import ALL_QUEUES, PERIOD, app

    route = app.amqp.router.route
    assert route({}, "gradflow.fire_due_timers")["queue"].name == "timers"
    assert route({}, "gradflow.deliver_outbox")["queue"].name == "outbox"
    assert route({}, "gradflow.import_graduates")["queue"].name == "celery"
    assert route({}, "gradflow.render_agreement")["queue"].name == "celery"
    assert set(ALL_QUEUES.split(",")) == {"celery", "outbox", "timers"}
    for name in ("fire-due-timers", "deliver-outbox"):
        entry = app.conf.beat_schedule[name]
        assert entry["schedule"] == PERIOD and entry["options"]["expires"] == PERIOD


def test_the_worker_command_consumes_every_queue_unless_told_otherwise(monkeypatch):
    # rule NOTE-2: `gradflow worker` alone serves timers, delivery and the rest; `--queues timers` a timer worker
    from gradflow import celery_app, cli

    seen: list[list[str]] = []
    monkeypatch.setattr(celery_app.app, "worker_main", lambda argv: seen.append(argv))
    cli.main(["worker"])
    cli.main(["worker", "--queues", "timers", "--concurrency", "1", "--name", "timers@%h"])
    assert "--queues=celery,outbox,timers" in seen[0] and not any(a.startswith("--hostname") for a in seen[0])
    assert "--queues=timers" in seen[1] and "--concurrency=1" in seen[1] and "--hostname=timers@%h" in seen[1]


def _rows(runtime, n: int) -> None:
    with runtime.Session() as s:
        s.execute(insert(OutboxMessage), [{"kind": "test.count", "payload": {"n": i}} for i in range(n)])
        s.commit()


def _pending(runtime) -> int:
    with runtime.Session() as s:
        return s.scalar(select(func.count()).select_from(OutboxMessage)
                        .where(OutboxMessage.delivered_at.is_(None), OutboxMessage.kind == "test.count")) or 0


def test_the_delivery_job_drains_a_backlog_beyond_one_tick_of_500(runtime):
    # rule NOTE-2: 1,234 due rows go out in one run of the job (limit=None), each once
    sent: list[int] = []
    senders = {**runtime.extensions.senders, "test.count": lambda row, _s: sent.append(row.payload["n"])}
    _rows(runtime, 1234)
    assert outbox.deliver_pending(runtime.Session, senders) == 500  # the old bound still holds when asked for
    assert outbox.deliver_pending(runtime.Session, senders, limit=None, seconds=60) == 734
    assert _pending(runtime) == 0 and sorted(sent) == list(range(1234))


def test_the_delivery_job_stops_at_its_time_budget_and_leaves_the_rest_due(runtime):
    # rule NOTE-2: a run stops after its seconds (one batch at least), the rest waits for the next tick
    senders = {**runtime.extensions.senders, "test.count": lambda row, _s: None}
    _rows(runtime, 350)
    done = outbox.deliver_pending(runtime.Session, senders, limit=None, seconds=0)
    assert 1 <= done <= outbox.BATCH and _pending(runtime) == 350 - done
    assert outbox.deliver_pending(runtime.Session, senders, limit=None) == 350 - done
    assert _pending(runtime) == 0
