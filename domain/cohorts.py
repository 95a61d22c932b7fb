"""届别 (GRAD-4): cohorts as records, and which one a graduate is looking at."""
from __future__ import annotations

from datetime import date

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from domain.models import Cohort, Graduate

FIRST_YEAR, LAST_YEAR = 2000, 2100


def season_dates(year: int) -> tuple[date, date]:
    """The default season of a cohort: from the September before graduation to the end of the year."""
    return date(year - 1, 9, 1), date(year, 12, 31)


def ensure_cohort(session: Session, year: int) -> Cohort:
    """The cohort of `year`, created with the default dates when it is missing (safe under concurrency)."""
    if not FIRST_YEAR <= year <= LAST_YEAR:
        raise ValueError(f"届别 {year} 不在 {FIRST_YEAR}–{LAST_YEAR} 之间")
    found = session.get(Cohort, year)
    if found is not None:
        return found
    starts, ends = season_dates(year)
    insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    session.execute(insert(Cohort).values(year=year, name=f"{year}届", starts_on=starts, ends_on=ends)
                    .on_conflict_do_nothing())
    cohort = session.get(Cohort, year)
    assert cohort is not None
    return cohort


def cohorts(session: Session) -> list[Cohort]:
    return list(session.scalars(select(Cohort).order_by(Cohort.year.desc())))


def graduate_records(session: Session, id_number: str) -> list[Graduate]:
    """GRAD-4: every cohort record of one person (newest first), for 切换届别; deleted ones excluded."""
    return list(session.scalars(
        select(Graduate).where(Graduate.id_number == id_number, Graduate.deleted_at.is_(None))
        .order_by(Graduate.cohort.desc(), Graduate.id.desc())))


def person_record(session: Session, id_number: str | None, graduate_id: int) -> Graduate | None:
    """GRAD-4: one cohort record of this person (same 身份证号, not deleted); None for anyone else's."""
    if not id_number:
        return None
    graduate = session.get(Graduate, graduate_id)
    if graduate is None or graduate.id_number != id_number or graduate.deleted_at is not None:
        return None
    return graduate


def earlier_than_current(session: Session, id_number: str | None, graduate_id: int | None,
                         current: Graduate | None) -> Graduate | None:
    """earlier_record_of, when the caller has already read the person's current record (domain.accounts.
    current_graduate): any other record of the same person is an earlier one, read by its id (issue 11: the
    graduate's write requests read their records once)."""
    if graduate_id is None or current is None or current.id == graduate_id:
        return None
    return person_record(session, id_number, graduate_id)


def earlier_record_of(session: Session, id_number: str | None, graduate_id: int | None) -> Graduate | None:
    """The record `graduate_id` when it is one of this person's records but not the current (newest) one:
    GRAD-4 keeps such records read-only."""
    if graduate_id is None or not id_number:
        return None
    records = graduate_records(session, id_number)
    if not records or records[0].id == graduate_id:
        return None
    return next((r for r in records[1:] if r.id == graduate_id), None)
