"""Notifications reach their receiver once (issue 12, must-hold 4): a deliverer that dies after the reference
sender wrote a message but before the row was marked delivered leaves the row to be sent again; the sender
sees the row's idempotency key (its outbox id) already spooled and does not write it twice."""
from __future__ import annotations

import json

import pytest

from domain import notify
from engine.models import OutboxMessage
from engine.outbox import deliver_pending


class Killed(BaseException):
    """Stands in for kill -9: not an Exception, so the deliverer neither records nor commits anything."""


def _lines(path, body):
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if body in line]


def test_a_message_is_delivered_once_after_the_deliverer_died_mid_delivery(runtime, step):
    # issue 12: senders get an idempotency key (the outbox id) and the reference senders dedup
    body = "您的验证码 424242（仅测试）"
    row_id = step(lambda s: (s.add(row := OutboxMessage(kind="notify.sms", payload={"to": "13900009999",
                                                                                    "title": "t", "body": body})),
                             s.flush(), row.id)[-1])

    def send_then_die(row, session):
        notify.send_sms(row, session)
        raise Killed

    with pytest.raises(Killed):
        deliver_pending(runtime.Session, {"notify.sms": send_then_die})
    path = runtime.settings.var_dir / "outbox" / "sms.jsonl"
    assert len(_lines(path, body)) == 1  # sent, but the row is still undelivered
    with runtime.Session() as s:
        assert s.get(OutboxMessage, row_id).delivered_at is None
    assert deliver_pending(runtime.Session, notify.SENDERS) >= 1  # the restarted deliverer sends it again ...
    sent = _lines(path, body)
    assert len(sent) == 1 and sent[0]["idempotency_key"].startswith(f"outbox:{row_id}:")  # ... the receiver sees one
    with runtime.Session() as s:
        assert s.get(OutboxMessage, row_id).delivered_at is not None
