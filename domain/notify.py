"""Notifications: the in-app message centre always, e-mail and SMS through the outbox (NOTE-1, NOTE-2)."""
from __future__ import annotations

import json
import logging
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from domain.models import Account, Graduate, Message
from engine.models import OutboxMessage
from engine.services import Sender, StepContext

log = logging.getLogger(__name__)
CHANNELS = ("email", "sms")
_SPOOL: dict[str, Path | None] = {"dir": None}


def graduate_and_account(session: Session, graduate_id: int | None) -> tuple[Graduate, Account] | None:
    """The graduate record and its login account, in one statement (issue 11: three before)."""
    if graduate_id is None:
        return None
    # Nothing the step has pending changes who the graduate and their account are: the pending writes wait for
    # the step's own flush (one flush fewer per notifying step, issue 11).
    with session.no_autoflush:
        found = session.execute(select(Graduate, Account).join(Account, Account.id_number == Graduate.id_number)
                                .where(Graduate.id == graduate_id, Account.role == "graduate").limit(1)).first()
    return (found[0], found[1]) if found is not None else None


def graduate_account(session: Session, graduate_id: int | None) -> Account | None:
    found = graduate_and_account(session, graduate_id)
    return found[1] if found is not None else None


def notify_graduate(ctx: StepContext, title: str, body: str = "", *, channels=CHANNELS) -> None:
    found = graduate_and_account(ctx.session, ctx.instance.graduate_id)
    if found is None:
        return
    graduate, account = found
    ctx.session.add(Message(account_id=account.id, title=title, body=body, instance_id=ctx.instance.id))
    for channel in channels:
        address = graduate.email if channel == "email" else graduate.phone
        if address:
            ctx.emit(f"notify.{channel}", {"to": address, "title": title, "body": body, "account_id": account.id})


def configure_spool(directory: Path) -> None:
    """Embedded default: 'sent' e-mail and SMS are appended to files under var/ for inspection."""
    _SPOOL["dir"] = directory


_SEEN: dict[Path, tuple[int, set[str]]] = {}  # per spool file: bytes read so far, idempotency keys found


def idempotency_key(row: OutboxMessage) -> str:
    """The outbox id, with its creation time so that a database started afresh (ids from 1 again) is not
    mistaken for one already sent."""
    return f"outbox:{row.id}:{row.created_at.isoformat() if row.created_at else ''}"


def _spooled_keys(path: Path) -> set[str]:
    """The idempotency keys already in a spool file, read incrementally (only what was appended since)."""
    offset, ids = _SEEN.get(path, (0, set()))
    if not path.exists():
        return ids
    with open(path, "rb") as fh:
        fh.seek(offset)
        for raw in fh:
            if not raw.endswith(b"\n"):
                break  # a line being written: read it next time
            offset += len(raw)
            try:
                ids.add(str(json.loads(raw)["idempotency_key"]))
            except (ValueError, TypeError, KeyError):
                continue
    _SEEN[path] = (offset, ids)
    return ids


def spool(channel: str, row: OutboxMessage) -> None:
    """Append the message once per outbox id (the idempotency key): a row delivered again after its deliverer
    died between sending and marking it delivered is not sent twice (issue 12)."""
    directory = _SPOOL["dir"]
    key = idempotency_key(row)
    line = json.dumps({"outbox_id": row.id, "idempotency_key": key, **row.payload}, ensure_ascii=False)
    if directory is None:
        log.info("%s %s", channel, line)
        return
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{channel}.jsonl"
    if key in _spooled_keys(path):
        log.info("%s outbox %s already sent: skipped", channel, row.id)
        return
    with open(path, "a", encoding="utf-8") as fh:
        fh.write(line + "\n")


def send_email(row: OutboxMessage, _sessions: Session) -> None:
    spool("email", row)


def send_sms(row: OutboxMessage, _sessions: Session) -> None:
    spool("sms", row)


SENDERS: dict[str, Sender] = {"notify.email": send_email, "notify.sms": send_sms}
