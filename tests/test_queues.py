"""Timers and delivery on queues of their own, and a delivery job that drains the backlog (issue 12 item 5:
the soak fired only 99 of 280 timers within one period while timers queued behind deliveries; issue 11: the
job delivered at most 500 rows per 15 s tick, about 33 rows a second, whatever the backlog)."""
from __future__ import annotations

import pytest
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
    assert route({}, "gradflow.render_agreement")["queue"].name == "documents"
    assert set(ALL_QUEUES.split(",")) == {"celery", "outbox", "timers", "documents"}
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
    assert "--queues=celery,outbox,timers,documents" in seen[0] and not any(a.startswith("--hostname") for a in seen[0])
    assert "--queues=timers" in seen[1] and "--concurrency=1" in seen[1] and "--hostname=timers@%h" in seen[1]
    with pytest.raises(SystemExit) as refused:  # a typo is refused, not a worker on a queue nobody sends to
        cli.main(["worker", "--queues", "timer"])
    assert "未知的队列：timer" in str(refused.value.code) and len(seen) == 2


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



def test_delivered_notifications_are_purged_after_a_day_and_sync_rows_after_their_retention(runtime):
    # rule NOTE-2: the outbox holds a day of delivered notifications, not a season; keyed (sync) rows keep 30 days
    from datetime import timedelta

    from core.db import utcnow

    now = utcnow()
    with runtime.Session() as s:
        s.execute(insert(OutboxMessage), [
            {"kind": "test.count", "payload": {}, "delivered_at": now - timedelta(hours=25)},  # purged
            {"kind": "test.count", "payload": {}, "delivered_at": now - timedelta(hours=23)},  # kept: under a day
            {"kind": "test.count", "payload": {}},  # pending: never purged
            {"kind": "test.sync", "payload": {}, "ordering_key": "g:1", "sequence": 1,
             "delivered_at": now - timedelta(days=2)},  # kept: a keyed row's retention is 30 days
        ])
        assert outbox.purge_delivered(s) == 1
        s.commit()
        left = s.execute(select(OutboxMessage.kind, OutboxMessage.delivered_at.is_(None))
                         .order_by(OutboxMessage.id)).all()
    assert [tuple(r) for r in left] == [("test.count", False), ("test.count", True), ("test.sync", False)]


def test_the_deliverers_query_reads_the_pending_index(runtime):
    # rule NOTE-2: the due rows come from the partial index of the backlog (migration 0026), not from a scan of
    # every row ever delivered: 2,000 delivered rows and a backlog of 50, with statistics as autovacuum keeps them
    from sqlalchemy import text

    from core.db import utcnow

    with runtime.Session() as s:
        s.execute(insert(OutboxMessage), [{"kind": "test.count", "payload": {}, "delivered_at": utcnow()}
                                          for _ in range(2000)])
        s.commit()
    _rows(runtime, 50)
    with runtime.Session() as s:
        dialect = s.get_bind().dialect.name
        s.execute(text("ANALYZE outbox_message" if dialect == "postgresql" else "ANALYZE"))
        if dialect == "postgresql":
            s.execute(text("SET LOCAL enable_seqscan = off"))  # a small table: ask which index serves the query
        query = outbox._due(utcnow()).limit(100)
        sql = str(query.compile(s.get_bind(), compile_kwargs={"literal_binds": True}))
        prefix = "EXPLAIN QUERY PLAN " if dialect == "sqlite" else "EXPLAIN "
        plan = " ".join(str(r[-1]) for r in s.execute(text(prefix + sql)))
    assert "ix_outbox_message_pending" in plan, plan


def test_the_retention_purge_reads_the_delivered_index(runtime):
    # rule NOTE-2: `delivered_at < cutoff` can read the partial index of the delivered rows (it implies NOT NULL)
    from datetime import timedelta

    from sqlalchemy import text

    from core.db import utcnow

    cutoff = (utcnow() - timedelta(days=1)).strftime("%Y-%m-%d %H:%M:%S")
    with runtime.Session() as s:
        dialect = s.get_bind().dialect.name
        if dialect == "postgresql":
            s.execute(text("SET LOCAL enable_seqscan = off"))
        prefix = "EXPLAIN QUERY PLAN " if dialect == "sqlite" else "EXPLAIN "
        plan = " ".join(str(r[-1]) for r in s.execute(text(
            f"{prefix}SELECT id FROM outbox_message WHERE delivered_at < '{cutoff}'")))
    assert "ix_outbox_message_delivered" in plan and "ix_outbox_message_pending" not in plan, plan


def test_with_autovacuum_off_the_deliverer_vacuums_the_outbox_itself(runtime, monkeypatch):
    # rule NOTE-2: delivered marks leave dead row versions; where the server's autovacuum is off the deliverer
    # vacuums the table (at most once a minute), so they do not pile up
    from sqlalchemy import text

    if runtime.db.dialect.name != "postgresql":
        pytest.skip("VACUUM and autovacuum are PostgreSQL's; SQLite reuses its pages")  # the PostgreSQL half runs it
    monkeypatch.setattr(outbox, "_last_run", {})
    monkeypatch.setattr(outbox, "_autovacuum_on", {str(runtime.db.url): False})  # as on this machine's server
    senders = {**runtime.extensions.senders, "test.count": lambda row, _s: None}
    _rows(runtime, 300)

    def vacuumed() -> int:
        with runtime.db.connect() as conn:
            return conn.execute(text("SELECT vacuum_count FROM pg_stat_user_tables "
                                     "WHERE relname = 'outbox_message'")).scalar() or 0

    before = vacuumed()
    assert outbox.deliver_pending(runtime.Session, senders, limit=None) == 300
    assert vacuumed() == before + 1
    _rows(runtime, 10)
    assert outbox.deliver_pending(runtime.Session, senders, limit=None) == 10
    assert vacuumed() == before + 1  # not again within VACUUM_EVERY
