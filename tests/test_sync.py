"""PRV-3 data sync: every approved change reaches the employment management system once, in order, after retries.

The receiver is the real `gradflow sync-receiver` subprocess (HTTP, SQLite store, dedup by Idempotency-Key);
changes are made through the real engine and services; delivery is the real `deliver_pending`, with the clock
moved by making the retried rows due instead of waiting out the back-off.
"""
from __future__ import annotations

import json
import subprocess
import sys
from datetime import timedelta
from functools import partial
from pathlib import Path
from urllib.request import urlopen

import pytest
from sqlalchemy import func, select, update

from core.db import utcnow
from domain import transfers
from domain.graduate_info import register_info
from domain.models import Graduate, SettingChange
from engine import outbox
from engine.models import OutboxMessage
from processes.archive.kind import SPEC as ARCHIVE
from processes.sync.emit import KIND
from tests.conftest import ROOT, TERMS
from tests.processes import transfer_steps
from tests.test_api import token

pytestmark = pytest.mark.usefixtures("world")
ARCHIVE_FIELDS = {"archive_type": "转回生源地", "archive_unit": "厦门市思明区人才服务中心", "division_code": "350203",
                  "archive_address": "湖滨南路1号", "archive_postcode": "361000", "archive_contact": "人事档案室",
                  "archive_phone": "0592-1234567", "note": "", "attachment_ids": []}


@pytest.fixture
def modules_open(runtime, world, step):
    """MOD-2 / MOD-4: archive and hukou are open at the school (as in tests/processes/conftest.py)."""
    step(lambda s: setattr(s.get(type(world.school), world.school.id), "open_modules",
                           ["destination", "archive", "hukou"]))


def gradflow(*args: str) -> list[str]:
    script = Path(sys.executable).with_name("gradflow")
    return [str(script), *args] if script.exists() else [sys.executable, "-m", "gradflow.cli", *args]


class Receiver:
    """`gradflow sync-receiver --port 0` as a subprocess; its URL is read from its first line."""

    def __init__(self, tmp_path: Path, *args: str):
        self.log = open(tmp_path / "receiver.log", "wb")
        self.proc = subprocess.Popen(gradflow("sync-receiver", "--port", "0", "--db", str(tmp_path / "received.sqlite3"),
                                              *args), cwd=str(ROOT), stdout=subprocess.PIPE, stderr=self.log)
        line = self.proc.stdout.readline().decode()
        assert "listening on" in line, f"receiver did not start: {line!r}"
        self.url = line.split("listening on ", 1)[1].split()[0]

    def get(self, path: str):
        with urlopen(self.url.rstrip("/") + path, timeout=10) as resp:
            return json.loads(resp.read())

    def stats(self) -> dict:
        return self.get("/stats")

    def changes(self) -> list[dict]:
        return self.get("/changes")

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.log.close()


@pytest.fixture
def receiver(tmp_path, monkeypatch):
    started: list[Receiver] = []

    def start(*args: str) -> Receiver:
        r = Receiver(tmp_path, *args)
        started.append(r)
        monkeypatch.setenv("GRADFLOW_SYNC_URL", r.url + "changes")
        monkeypatch.setenv("GRADFLOW_SYNC_TIMEOUT_SECONDS", "5")
        return r

    yield start
    for r in started:
        r.stop()


def deliver(runtime) -> int:
    return outbox.deliver_pending(runtime.Session, runtime.extensions.senders)


def make_due(runtime) -> None:
    """The clock moves on: every retried row's back-off is over."""
    with runtime.Session() as s:
        s.execute(update(OutboxMessage).where(OutboxMessage.delivered_at.is_(None))
                  .values(available_at=utcnow() - timedelta(seconds=1)))
        s.commit()


def sync_rows(runtime, graduate_id: int | None = None) -> list[OutboxMessage]:
    with runtime.Session() as s:
        q = select(OutboxMessage).where(OutboxMessage.kind == KIND)
        if graduate_id is not None:
            q = q.where(OutboxMessage.ordering_key == f"graduate:{graduate_id}")
        return list(s.scalars(q.order_by(OutboxMessage.id)))


def summary(rows) -> list[tuple]:
    return [(r.payload["part"], r.payload["data"]["status"], r.sequence) for r in rows]


def register(step, graduate_id: int, kind: str, fields: dict) -> None:
    step(lambda s: register_info(s, graduate_id, kind, fields, "school"))


def test_a_failing_receiver_gets_the_change_once_after_retries(runtime, make_graduate, step, receiver):
    # rule PRV-3
    r = receiver("--fail-first", "3")
    grad = make_graduate("g1")
    register(step, grad.id, "archive", {"archive_type": "转回生源地", "archive_unit": "某人才中心"})
    [row] = sync_rows(runtime)
    for attempt in range(1, 4):
        assert deliver(runtime) == 0
        [row] = sync_rows(runtime)
        assert row.delivered_at is None and row.attempts == attempt and "HTTP 503" in row.last_error
        assert row.failed_at is None  # retried until acknowledged: never given up
        assert row.available_at > utcnow()  # backed off
        assert deliver(runtime) == 0  # not due yet: nothing is sent
        make_due(runtime)
    assert deliver(runtime) == 1
    [row] = sync_rows(runtime)
    assert row.delivered_at is not None and row.attempts == 3 and row.last_error is None
    assert r.stats() == {"received": 1, "unique": 1, "duplicates": 0, "failed": 3, "bad": 0}
    [change] = r.changes()
    assert change["key"] == str(row.id)  # Idempotency-Key: the row id, the same on every attempt
    body = change["body"]
    assert body["id"] == row.id and body["part"] == "archive" and body["sequence"] == 1
    assert body["data"] == {"status": "registered", "source": "school",
                            "fields": {"archive_type": "转回生源地", "archive_unit": "某人才中心"}}
    with runtime.Session() as s:
        g = s.get(Graduate, grad.id)
        assert body["graduate"] == {"id": g.id, "exam_no": g.exam_no, "id_number": g.id_number,
                                    "student_no": g.student_no, "name": g.name, "cohort": 2026,
                                    "school_code": g.school.code, "school_name": g.school.name, "deleted": False}
    make_due(runtime)
    assert deliver(runtime) == 0 and r.stats()["received"] == 1  # delivered rows are not sent again


def test_changes_of_one_graduate_arrive_in_order_even_when_the_first_fails(runtime, make_graduate, step, receiver):
    # rule PRV-3
    r = receiver("--fail-first", "1")
    g1, g2 = make_graduate("g1"), make_graduate("g2")
    register(step, g1.id, "archive", {"archive_type": "转回生源地"})
    register(step, g1.id, "hukou", {"hukou_type": "转回生源地"})
    first, second = sync_rows(runtime, g1.id)
    assert (first.sequence, second.sequence) == (1, 2)
    assert deliver(runtime) == 0  # the first fails; the second waits for it, not sent at all
    assert r.stats() == {"received": 0, "unique": 0, "duplicates": 0, "failed": 1, "bad": 0}
    first, second = sync_rows(runtime, g1.id)
    assert first.attempts == 1 and second.attempts == 0 and second.delivered_at is None
    register(step, g2.id, "archive", {"archive_type": "签约单位接收"})  # another graduate is not held up
    assert deliver(runtime) == 1
    assert [c["body"]["graduate"]["id"] for c in r.changes()] == [g2.id]
    make_due(runtime)
    assert deliver(runtime) == 2
    arrived = [(c["body"]["graduate"]["id"], c["body"]["part"], c["body"]["sequence"]) for c in r.changes()]
    assert arrived == [(g2.id, "archive", 1), (g1.id, "archive", 1), (g1.id, "hukou", 2)]
    assert r.stats()["unique"] == 3 and r.stats()["duplicates"] == 0


def test_a_rolled_back_step_emits_nothing(runtime, make_graduate, step):
    # rule PRV-3
    grad = make_graduate("g1")
    with runtime.Session() as s:
        s.connection(execution_options={"sqlite_immediate": True})
        register_info(s, grad.id, "archive", {"archive_type": "转回生源地"}, "school")
        s.flush()
        s.rollback()
    with pytest.raises(RuntimeError):
        def fails(s):
            register_info(s, grad.id, "hukou", {"hukou_type": "转回生源地"}, "school")
            raise RuntimeError("the step fails after the change")
        step(fails)
    assert sync_rows(runtime) == []
    # the same session goes on with a step that commits: only that one's change is sent
    with runtime.Session() as s:
        register_info(s, grad.id, "archive", {"archive_type": "转回生源地"}, "school")
        s.rollback()
        register_info(s, grad.id, "hukou", {"hukou_type": "转回生源地"}, "school")
        s.commit()
    assert summary(sync_rows(runtime)) == [("hukou", "registered", 1)]


def test_one_step_changing_one_part_twice_sends_one_snapshot(runtime, make_graduate, step):
    # rule PRV-3
    grad = make_graduate("g1")

    def twice(s):
        register_info(s, grad.id, "archive", {"archive_type": "转回生源地"}, "school")
        register_info(s, grad.id, "archive", {"archive_type": "签约单位接收"}, "school")

    step(twice)
    [row] = sync_rows(runtime)
    assert row.payload["data"]["fields"] == {"archive_type": "签约单位接收"}  # as it was at commit
    register(step, grad.id, "archive", {"archive_type": "签约单位接收"})  # the same again: not a change
    assert len(sync_rows(runtime)) == 1


def test_an_approved_destination_filing_produces_one_sync_row(runtime, make_graduate, step, actor):
    # rule PRV-3
    from tests.processes.test_destination_filing import decide, submit

    grad = make_graduate("g1")
    inst = submit(runtime, step, actor, "g1")
    decide(runtime, step, actor, "dept_info", inst.id, "approve")
    assert sync_rows(runtime) == []  # under review: nothing to sync yet
    decide(runtime, step, actor, "school", inst.id, "approve")
    [row] = sync_rows(runtime)
    assert row.ordering_key == f"graduate:{grad.id}" and row.sequence == 1
    data = row.payload["data"]
    assert data["status"] == "effective" and data["source"] == "destination" and data["dest_type"] == "freelance"
    assert data["fields"] == {"note": "自由撰稿"} and data["approved_at"]


def test_an_approved_online_signing_produces_destination_archive_and_hukou_rows(
        runtime, world, make_graduate, make_employer, modules_open, step, actor):
    # rule PRV-3
    from tests.processes.test_online_signing import agreement, answer, invite, review

    grad = make_graduate("g1")
    make_employer("hr")
    inst = invite(runtime, step, actor, "hr", grad)
    answer(runtime, step, actor, "g1", inst.id, "accept")
    review(runtime, step, actor, "dept_info", inst.id, "approve")
    assert sync_rows(runtime) == []
    review(runtime, step, actor, "school", inst.id, "approve")
    a = agreement(runtime, inst.id)
    rows = sync_rows(runtime)
    assert summary(rows) == [("destination", "effective", 1), ("archive", "registered", 2), ("hukou", "registered", 3)]
    dest = rows[0].payload["data"]
    assert dest["source"] == "agreement" and dest["agreement_no"] == a.agreement_no  # 协议编号, set after the claim
    assert dest["employer"]["name"] == "厦门星海科技有限公司" and dest["fields"]["position"] == TERMS["position"]
    assert rows[1].payload["data"]["fields"]["archive_type"] == TERMS["archive_type"]
    assert rows[2].payload["data"]["fields"]["hukou_type"] == TERMS["hukou_type"]


def test_archive_registration_and_grad5_deletion_produce_the_expected_rows(
        runtime, make_graduate, modules_open, step, actor):
    # rules PRV-3, GRAD-5
    start = partial(transfer_steps.start, ARCHIVE, default=ARCHIVE_FIELDS)
    grad = make_graduate("g1")
    inst = start(runtime, step, actor, "g1")
    assert sync_rows(runtime) == []
    transfer_steps.approve_all(ARCHIVE, runtime, step, actor, inst.id)
    rows = sync_rows(runtime)
    assert summary(rows) == [("archive", "registered", 1)]
    assert rows[0].payload["data"]["source"] == "registration"
    assert rows[0].payload["data"]["fields"]["archive_unit"] == ARCHIVE_FIELDS["archive_unit"]
    register(step, grad.id, "hukou", {"hukou_type": "转回生源地"})
    school = actor("school")
    step(lambda s: transfers.delete_basic_info(s, runtime.runner, school, grad.id))
    rows = sync_rows(runtime)
    assert summary(rows) == [("archive", "registered", 1), ("hukou", "registered", 2),
                             ("archive", "invalidated", 3), ("hukou", "invalidated", 4)]
    assert rows[-1].payload["graduate"]["deleted"] is True


def test_without_a_url_sync_is_off_and_rows_wait(runtime, make_graduate, step, monkeypatch, client_for):
    # rule PRV-3
    monkeypatch.delenv("GRADFLOW_SYNC_URL", raising=False)
    grad = make_graduate("g1")
    register(step, grad.id, "archive", {"archive_type": "转回生源地"})
    assert deliver(runtime) == 0
    [row] = sync_rows(runtime)
    assert row.attempts == 0 and row.last_error is None and row.delivered_at is None  # untouched, pending
    page = client_for("admin").get("/admin/sync").get_data(as_text=True)
    assert 'id="sync-disabled"' in page and "GRADFLOW_SYNC_URL" in page
    api = client_for("admin").get("/api/v1/sync").get_json()
    assert "enabled" in api, api
    assert api["enabled"] is False and api["counts"] == {"pending": 1, "failed": 0, "delivered": 0}


def test_admin_page_lists_filters_and_retries_now_audited(runtime, app, make_graduate, step, receiver, client_for):
    # rule PRV-3
    r = receiver("--fail-first", "1")
    g1, g2 = make_graduate("g1"), make_graduate("g2", name="李四")
    register(step, g1.id, "archive", {"archive_type": "转回生源地"})
    assert deliver(runtime) == 0  # g1's change fails once
    register(step, g2.id, "archive", {"archive_type": "转回生源地"})
    assert deliver(runtime) == 1
    register(step, g2.id, "hukou", {"hukou_type": "转回生源地"})
    [failed] = sync_rows(runtime, g1.id)
    admin = client_for("admin")
    page = admin.get("/admin/sync").get_data(as_text=True)
    assert 'data-status="pending"' in page and "发送失败：<b>1</b>" in page and "已送达：<b>1</b>" in page
    assert "待发送：<b>1</b>" in page and "HTTP 503" in page and f'id="sync-row-{failed.id}"' in page
    only_failed = admin.get("/admin/sync?status=failed").get_data(as_text=True)
    assert f'id="sync-row-{failed.id}"' in only_failed and only_failed.count('<tr id="sync-row-') == 1
    by_graduate = admin.get(f"/admin/sync?graduate={g2.student_no}").get_data(as_text=True)
    assert by_graduate.count('<tr id="sync-row-') == 2 and f'id="sync-row-{failed.id}"' not in by_graduate
    assert "数据同步" in page and 'href="/admin/sync"' in page  # the header link

    api = admin.get("/api/v1/sync?status=failed").get_json()
    assert api["enabled"] is True and api["counts"] == {"pending": 1, "failed": 1, "delivered": 1}
    [item] = api["items"]
    assert item["id"] == failed.id and item["attempts"] == 1 and "HTTP 503" in item["last_error"]
    assert item["graduate_id"] == g1.id and item["part"] == "archive" and item["status"] == "failed"
    assert admin.get("/api/v1/sync?status=nope").status_code == 422

    resp = admin.post(f"/admin/sync/{failed.id}/retry", data={})
    assert resp.status_code in (302, 303)
    [row] = sync_rows(runtime, g1.id)
    assert row.available_at <= utcnow() and row.delivered_at is None
    bearer = token(app.test_client(), "admin")
    assert admin.post("/api/v1/sync/retry-failed", headers=bearer).get_json() == {"retried": 1}
    assert deliver(runtime) == 2
    assert r.stats()["unique"] == 3
    assert admin.post(f"/api/v1/sync/{failed.id}/retry", headers=bearer).status_code == 409  # delivered already
    with runtime.Session() as s:
        audit = list(s.scalars(select(SettingChange).where(SettingChange.action == "sync_retry")
                               .order_by(SettingChange.id)))
        assert [(a.target, a.target_id, a.after) for a in audit] == [("outbox", failed.id, {"retried": 1}),
                                                                    ("outbox", 0, {"retried": 1})]
        assert audit[0].actor_name == "管理员" and audit[0].before["attempts"] == 1

    school = client_for("school")
    assert school.get("/admin/sync").status_code == 404
    assert school.get("/api/v1/sync").status_code == 404
    assert school.post("/api/v1/sync/retry-failed", headers=token(app.test_client(), "school")).status_code == 404


def test_admin_retry_needs_the_csrf_token(runtime, make_graduate, step, client_for):
    # rule PRV-3
    from domain.seed import DEMO_PASSWORD
    from webapp import create_app

    grad = make_graduate("g1")
    register(step, grad.id, "archive", {"archive_type": "转回生源地"})
    [row] = sync_rows(runtime)
    client = create_app(runtime, TESTING=True).test_client()
    login = client.get("/login").get_data(as_text=True)
    token = login.split('name="csrf_token" type="hidden" value="', 1)[1].split('"', 1)[0]
    client.post("/login", data={"username": "admin", "password": DEMO_PASSWORD, "csrf_token": token})
    assert client.post(f"/admin/sync/{row.id}/retry", data={}).status_code in (302, 303, 400)

    def audited() -> int:
        with runtime.Session() as s:
            return s.scalar(select(func.count()).select_from(SettingChange).where(SettingChange.action == "sync_retry"))

    assert audited() == 0  # refused: no token
    page = client.get("/admin/sync").get_data(as_text=True)
    token = page.split('name="csrf_token" type="hidden" value="', 1)[1].split('"', 1)[0]
    assert client.post(f"/admin/sync/{row.id}/retry", data={"csrf_token": token}).status_code in (302, 303)
    assert audited() == 1


def test_delivered_rows_are_purged_after_the_retention_but_the_last_of_a_graduate_stays(
        runtime, make_graduate, step, receiver):
    # rule PRV-3
    receiver()
    grad = make_graduate("g1")
    register(step, grad.id, "archive", {"archive_type": "转回生源地"})
    register(step, grad.id, "hukou", {"hukou_type": "转回生源地"})
    assert deliver(runtime) == 2
    with runtime.Session() as s:
        s.execute(update(OutboxMessage).values(delivered_at=utcnow() - outbox.RETENTION - timedelta(days=1)))
        assert outbox.purge_delivered(s) == 1
        s.commit()
    assert summary(sync_rows(runtime)) == [("hukou", "registered", 2)]
    register(step, grad.id, "archive", {"archive_type": "签约单位接收"})
    assert [r.sequence for r in sync_rows(runtime)] == [2, 3]  # the numbering goes on


def test_many_changes_of_many_graduates_arrive_once_each_in_order(runtime, make_graduate, step, receiver):
    # rule PRV-3: each change once, in order per graduate, when several graduates' rows go out together.
    # The delivery rate (was test_delivery_rate, 100 rows) is measured by bench/sync_delivery.py.
    r = receiver()
    grads = [make_graduate(f"g{i}") for i in range(6)]

    def many(s):
        for g in grads:
            for n in range(3):
                register_info(s, g.id, "archive", {"archive_type": "转回生源地", "n": n}, "school")
                s.commit()

    with runtime.Session() as s:
        many(s)
    assert len(sync_rows(runtime)) == 18
    delivered = 0
    while delivered < 18:
        got = deliver(runtime)
        assert got > 0
        delivered += got
    assert r.stats()["unique"] == 18
    order = {}
    for c in r.changes():
        order.setdefault(c["body"]["graduate"]["id"], []).append(c["body"]["sequence"])
    assert len(order) == 6 and all(len(seqs) == 3 for seqs in order.values())
    assert all(seqs == sorted(seqs) for seqs in order.values())
