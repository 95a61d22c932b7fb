"""Agreement rules that several processes share: numbering (AGR-1), the one-agreement
claim (ONL-3), the open-invitation key (ONL-5) and the open-termination key (TRM-4).

Each is a unique key in the database, so two concurrent steps cannot both pass the
guard: the loser's insert/update fails and its whole step rolls back as a Conflict.
"""
from __future__ import annotations

from typing import Any, cast

from sqlalchemy import Table, exists, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session, aliased

from core.db import transaction_memo, utcnow
from core.errors import Conflict
from domain.effective import unique_write
from domain.models import Agreement, AgreementSequence, EffectiveDestination, Termination


def next_agreement_no(session: Session, province_code: str, year: int | None = None) -> str:
    """AGR-1: 4-digit year, 2-digit province code, 13-digit sequence; unique under concurrency."""
    year = year or utcnow().year
    prov = (province_code or "00")[:2]
    table = cast(Table, AgreementSequence.__table__)  # a declarative class's __table__ is a Table
    insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    session.execute(insert(table).values(year=year, province_code=prov, last_value=0).on_conflict_do_nothing())
    # The UPDATE takes the row lock: concurrent approvals queue here and each gets the next value.
    value = session.execute(
        update(table).where(table.c.year == year, table.c.province_code == prov)
        .values(last_value=table.c.last_value + 1).returning(table.c.last_value)
    ).scalar_one()
    return f"{year:04d}{prov}{value:013d}"


# Not correlated with an outer agreement the ids may come from. Built once: a new alias adapts its columns
# again on first use, 0.6 ms of every ONL-3 check (issue 11).
_HELD = aliased(Agreement, name="held")


def held_elsewhere(graduate_id: Any, agreement_id: Any) -> tuple[Any, Any]:
    """ONL-3's two questions as columns of one statement (issue 11): does the graduate hold another agreement,
    and do they have an effective destination? (Ids or correlated columns.)"""
    other = exists().where(_HELD.active_key == graduate_id, _HELD.id != agreement_id)
    effective = exists().where(EffectiveDestination.graduate_id == graduate_id)
    return other.label("other_held"), effective.label("effective")


_FOUND_FREE = "onl3_found_free"


def found_free(session: Session, agreement: Agreement) -> None:
    """This transaction has just asked ONL-3's questions for `agreement` (as columns of the statement that read
    it) and both answers were no: its claim need not ask them again (issue 11). The unique key still decides a
    race, as it would after a second read."""
    transaction_memo(session)[(_FOUND_FREE, agreement.id)] = True


def claim_agreement(session: Session, agreement: Agreement) -> None:
    """ONL-3: a graduate has one agreement (accepted, under review or signed)."""
    if transaction_memo(session).pop((_FOUND_FREE, agreement.id), False):
        other = effective = False
    else:
        other, effective = session.execute(select(*held_elsewhere(agreement.graduate_id, agreement.id))).one()
    if other:
        raise Conflict("你已接受或签订了一份就业协议，其他签约邀请只能查看，不能再接受")
    if effective:
        raise Conflict("你已有生效的毕业去向，请先作废该去向后再签约")

    def set_key():
        agreement.active_key = agreement.graduate_id

    unique_write(session, set_key, "你已接受或签订了一份就业协议，不能再接受其他签约邀请")


def release_agreement(agreement: Agreement) -> None:
    agreement.active_key = None


def invite_key(employer_id: int, graduate_id: int) -> str:
    return f"{employer_id}:{graduate_id}"


def open_invitation(session: Session, agreement: Agreement) -> None:
    """ONL-5: one open invitation per employer and graduate."""

    def set_key():
        agreement.open_invite_key = invite_key(agreement.employer_id, agreement.graduate_id)

    unique_write(session, set_key, "你对该毕业生的签约邀请仍在应约有效期内，不能重复邀请")


def close_invitation(agreement: Agreement) -> None:
    agreement.open_invite_key = None
    agreement.answered_at = agreement.answered_at or utcnow()


def open_termination(session: Session, termination: Termination) -> None:
    """TRM-4: one termination at a time per agreement."""

    def set_key():
        termination.open_key = termination.agreement_id

    unique_write(session, set_key, "该协议已有一个正在办理的解约申请")


