"""PRV-2: statistics kept current in the transaction of each change, never counted over all graduates per view.

`refresh_graduates` is the one entry point: the statistics module's step hook calls it for the graduate of
every step, and the roster (GRAD-1/5) calls it after an import, an add, an edit or a delete. As a safety
net, `install` adds session listeners that refresh, just before commit, every graduate whose rows a
transaction wrote outside a step (a graduate inserted, the school's direct registration ARC-7, a deletion).

States, per graduate and module (the same SQL expressions serve a refresh and `rebuild_statistics`):

- 毕业去向登记与网签 (destination): **已登记** (registered) = the graduate has an effective destination
  (DST-4: an approved agreement of any kind, or an approved other destination); **审核中** (reviewing) = not
  registered, and an instance of a 基本信息和就业信息-area process (filing, signing, paper registration,
  termination) waits for a Department or School review work item; **未登记** (unregistered) = neither.
  Registered graduates are also counted by the category and type of their effective destination
  (DICT-1: an agreement counts as 签就业协议形式就业).
- 档案信息登记 (archive): 已登记 = an active archive RegisteredInfo (any source: review, agreement ONL-7,
  school ARC-7); 审核中 = not registered and an archive process waits for a Department/School review; else 未登记.
- 户口信息登记 (hukou): as archive, counting only graduates whose 户口是否转入学校 is 是 (MOD-5: the module is not
  available to the others, so they are neither registered nor missing).
- Deleted graduates (GRAD-5) are counted in no module.

The pages show 总人数 = 已登记 + 未登记, where 未登记 includes 审核中 (审核中 is the part of 未登记 under review),
as in the guide's table (seed 002 §7).
"""
from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from itertools import chain
from typing import Any, cast

from sqlalchemy import (
    Table,
    and_,
    bindparam,
    case,
    delete,
    event,
    exists,
    func,
    insert,
    literal_column,
    select,
    text,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session, aliased
from sqlalchemy.sql import Select

from core.i18n import N_
from domain.access import MODULE_AREA, POLICY
from domain.models import DestinationRecord, EffectiveDestination, Graduate, RegisteredInfo
from domain.stats_models import GraduateStat, StatCounter
from engine.models import WorkItem

MODULES = ("destination", "archive", "hukou")
MODULE_NAMES = {"destination": N_("毕业去向登记与网签"), "archive": N_("档案信息登记"), "hukou": N_("户口信息登记")}
REGISTERED, REVIEWING, UNREGISTERED = "registered", "reviewing", "unregistered"
STATES = (REGISTERED, REVIEWING, UNREGISTERED)
STATE_NAMES = {REGISTERED: "已登记", REVIEWING: "审核中", UNREGISTERED: "未登记"}
REVIEW_ROLES = ("Department", "School")  # the lanes of the two review levels (REV-1)
AGREEMENT = "agreement"  # DICT-1: the category (and type) an effective agreement counts as
CHUNK = 500
DIRTY = "prv2_dirty_graduates"  # session.info key: graduates written in this transaction, not yet refreshed

_STAT = cast(Table, GraduateStat.__table__)
_COUNTER = cast(Table, StatCounter.__table__)
_STATE_COLUMNS = ("destination", "dest_category", "dest_type", "archive", "hukou")


# -- the states, as SQL ---------------------------------------------------------------------------------------
def _area_processes(area: str, areas: dict[str, str] | None = None) -> list[str]:
    mapping = POLICY.areas if areas is None else areas
    return sorted(pid for pid, a in mapping.items() if a == area)


def states_query(graduate_ids: Sequence[int] | None = None, areas: dict[str, str] | None = None) -> Select[Any]:
    """One row per graduate: its scope and its state per module (the definitions in the module docstring)."""
    eff = aliased(EffectiveDestination)
    rec = aliased(DestinationRecord)

    def reviewing(module: str):
        return exists().where(WorkItem.graduate_id == Graduate.id, WorkItem.state == "open",
                              WorkItem.role.in_(REVIEW_ROLES),
                              WorkItem.process_id.in_(_area_processes(MODULE_AREA[module], areas)))

    def registered(kind: str):
        return exists().where(RegisteredInfo.graduate_id == Graduate.id, RegisteredInfo.kind == kind,
                              RegisteredInfo.active.is_(True))

    deleted = Graduate.deleted_at.is_not(None)
    no_dest = deleted | eff.graduate_id.is_(None)
    stmt = select(
        Graduate.id.label("graduate_id"), Graduate.school_id, Graduate.department_id, Graduate.cohort,
        case((deleted, ""), (eff.graduate_id.is_not(None), REGISTERED), (reviewing("destination"), REVIEWING),
             else_=UNREGISTERED).label("destination"),
        case((no_dest, ""), (eff.kind == AGREEMENT, AGREEMENT), else_=func.coalesce(rec.category, "")
             ).label("dest_category"),
        case((no_dest, ""), (eff.kind == AGREEMENT, AGREEMENT), else_=func.coalesce(rec.dest_type, "")
             ).label("dest_type"),
        case((deleted, ""), (registered("archive"), REGISTERED), (reviewing("archive"), REVIEWING),
             else_=UNREGISTERED).label("archive"),
        case((deleted | Graduate.hukou_in_school.is_not(True), ""), (registered("hukou"), REGISTERED),
             (reviewing("hukou"), REVIEWING), else_=UNREGISTERED).label("hukou"),
    ).outerjoin(eff, eff.graduate_id == Graduate.id).outerjoin(
        rec, and_(eff.kind == "destination", rec.id == eff.record_id))
    if graduate_ids is not None:
        stmt = stmt.where(Graduate.id.in_(list(graduate_ids)))
    return stmt


def buckets(module: str, row: Any) -> list[str]:
    """The counter buckets a stat row (or a states_query row) falls in for one module."""
    state = getattr(row, module)
    if not state:
        return []
    if module == "destination" and state == REGISTERED:
        return [state, f"cat:{row.dest_category}", f"type:{row.dest_type}"]
    return [state]


# -- maintaining them ------------------------------------------------------------------------------------------
def _dialect_insert(dialect: str, table) -> Any:
    """The dialect's INSERT, which knows ON CONFLICT (the statistics run on PostgreSQL and SQLite)."""
    if dialect == "postgresql":
        return postgresql.insert(table)
    if dialect == "sqlite":
        return sqlite.insert(table)
    raise NotImplementedError(f"statistics on {dialect}")


def _insert(session: Session, table):
    return _dialect_insert(session.get_bind().dialect.name, table).on_conflict_do_nothing()


def refresh_graduates(session: Session, graduate_ids: Iterable[int]) -> None:
    """Recompute these graduates' per-module states and move the counters by the difference (same transaction).

    Each graduate's stat row is locked (an upsert that writes it to itself, in id order) before its state is
    read, so two transactions for one graduate count it once; counters move by ``n = n + :d`` in key order, so
    two steps for graduates of one school never lose an update nor deadlock on each other."""
    ids = sorted({int(i) for i in graduate_ids if i is not None})
    if not ids:
        return
    session.flush()
    for start in range(0, len(ids), CHUNK):
        chunk = ids[start:start + CHUNK]
        _write(session, *_refresh_chunk(session, chunk))
        pending = session.info.get(DIRTY)
        if pending:
            pending.difference_update(chunk)


# The refresh's statements, built once per dialect and process-area mapping (each step's commit runs them: building
# the states query alone cost about as much as running it); the graduates go in as an expanding parameter.
_STATEMENTS: dict[tuple[str, tuple[tuple[str, str], ...]], tuple[Any, Any]] = {}
_IDS = "graduate_ids"


def _refresh_statements(session: Session) -> tuple[Any, Any]:
    dialect = session.get_bind().dialect.name
    key = (dialect, tuple(sorted(POLICY.areas.items())))
    found = _STATEMENTS.get(key)
    if found is None:
        ids: Any = bindparam(_IDS, expanding=True)
        blank: Any = select(Graduate.id, Graduate.school_id, Graduate.department_id, Graduate.cohort,
                            *(literal_column("''").label(c) for c in _STATE_COLUMNS)).where(Graduate.id.in_(ids))
        # One statement claims each graduate's stat row (issue 11: an insert of the missing ones, then a locking
        # read): a missing row is inserted blank, an existing one "updated" to itself, which locks it (in id
        # order) and returns it as it was.
        ins = _dialect_insert(dialect, _STAT)
        claim = ins.from_select(["graduate_id", "school_id", "department_id", "cohort", *_STATE_COLUMNS],
                                blank.order_by(Graduate.id)) \
            .on_conflict_do_update(index_elements=[_STAT.c.graduate_id],
                                   set_={"graduate_id": ins.excluded.graduate_id}) \
            .returning(*_STAT.c)
        found = (claim, states_query().where(Graduate.id.in_(ids)))
        if len(_STATEMENTS) > 8:  # the areas change only when a runtime is built (tests build many)
            _STATEMENTS.clear()
        _STATEMENTS[key] = found
    return found


_Deltas = dict[tuple[int, int, int, str, str], int]


def _refresh_chunk(session: Session, chunk: list[int]) -> tuple[list[dict[str, Any]], _Deltas]:
    """The claimed graduates whose states changed (their new rows) and how the counters move."""
    claim, states = _refresh_statements(session)
    old = {r.graduate_id: r for r in session.execute(claim, {_IDS: chunk})}
    deltas: _Deltas = defaultdict(int)
    changed: list[dict[str, Any]] = []
    for new in session.execute(states, {_IDS: chunk}):
        before = old.get(new.graduate_id)
        if before is None:
            continue
        if all(getattr(before, c) == getattr(new, c) for c in (*_STATE_COLUMNS, "school_id", "department_id",
                                                                 "cohort")):
            continue
        for module in MODULES:
            for row, sign in ((before, -1), (new, 1)):
                for bucket in buckets(module, row):
                    for dept in (row.department_id, 0):
                        deltas[(row.school_id, dept, row.cohort, module, bucket)] += sign
        changed.append({"gid": new.graduate_id, "school_id": new.school_id, "department_id": new.department_id,
                        "cohort": new.cohort, **{c: getattr(new, c) for c in _STATE_COLUMNS}})
    return changed, deltas


_ROW_COLUMNS = ("school_id", "department_id", "cohort", *_STATE_COLUMNS)
_KEY_COLUMNS = ("school_id", "department_id", "cohort", "module", "bucket")
_ARRAY_TYPES = {"school_id": "integer[]", "department_id": "integer[]", "cohort": "integer[]"}
# PostgreSQL: the changed stat rows and the counters in one statement (issue 11: one round trip, not two). Both are
# plain writes of values computed above, so one snapshot serves both; the counters still move in key order.
_PG_WRITE = text(
    "WITH moved AS (UPDATE graduate_stat AS s SET "
    + ", ".join(f"{c} = v.{c}" for c in _ROW_COLUMNS)
    + " FROM unnest(CAST(:gid AS integer[]), "
    + ", ".join(f"CAST(:{c} AS {_ARRAY_TYPES.get(c, 'text[]')})" for c in _ROW_COLUMNS)
    + f") AS v(gid, {', '.join(_ROW_COLUMNS)}) WHERE s.graduate_id = v.gid) "
    f"INSERT INTO stat_counter ({', '.join(_KEY_COLUMNS)}, n) "
    f"SELECT {', '.join('c.' + c for c in _KEY_COLUMNS)}, c.n FROM unnest("
    + ", ".join(f"CAST(:c_{c} AS {_ARRAY_TYPES.get(c, 'text[]')})" for c in _KEY_COLUMNS)
    + f", CAST(:c_n AS integer[])) WITH ORDINALITY AS c({', '.join(_KEY_COLUMNS)}, n, ord) ORDER BY c.ord "
    f"ON CONFLICT ({', '.join(_KEY_COLUMNS)}) DO UPDATE SET n = stat_counter.n + excluded.n")


def _write(session: Session, changed: list[dict[str, Any]], deltas: _Deltas) -> None:
    keys = sorted(k for k, d in deltas.items() if d)
    if changed and keys and session.get_bind().dialect.name == "postgresql":
        params: dict[str, Any] = {"gid": [r["gid"] for r in changed]}
        params.update({c: [r[c] for r in changed] for c in _ROW_COLUMNS})
        params.update({f"c_{c}": [k[i] for k in keys] for i, c in enumerate(_KEY_COLUMNS)})
        params["c_n"] = [deltas[k] for k in keys]
        session.execute(_PG_WRITE, params)
        return
    if changed:
        session.execute(update(_STAT).where(_STAT.c.graduate_id == bindparam("gid")).values(
            {c: bindparam(c) for c in _ROW_COLUMNS}), changed)
    if keys:
        session.execute(_counter_upsert(session),
                        [{**dict(zip(_KEY_COLUMNS, k, strict=True)), "n": deltas[k]} for k in keys])


_UPSERTS: dict[str, Any] = {}


def _counter_upsert(session: Session) -> Any:
    """One statement moves the counters (issue 11: an insert of missing rows and an update before): a missing
    row is inserted with the difference, an existing one moves by it. Built once per dialect (every step runs it)."""
    dialect = session.get_bind().dialect.name
    found = _UPSERTS.get(dialect)
    if found is None:
        ins = _dialect_insert(dialect, _COUNTER)
        found = _UPSERTS[dialect] = ins.on_conflict_do_update(index_elements=list(_COUNTER.primary_key.columns),
                                                              set_={"n": _COUNTER.c.n + ins.excluded.n})
    return found


def rebuild_statistics(session: Session, areas: dict[str, str] | None = None) -> int:
    """Recount every graduate from scratch (set-based SQL); returns how many graduates it counted.

    For a new deployment or after a bulk load that bypassed the ORM (the benchmark's COPY). `areas` maps
    process id -> ROLE-2 area; the runtime's access policy by default."""
    session.flush()
    session.execute(delete(_COUNTER))
    session.execute(delete(_STAT))
    cols = ["graduate_id", "school_id", "department_id", "cohort", *_STATE_COLUMNS]
    session.execute(insert(_STAT).from_select(cols, states_query(None, areas)))
    s = _STAT.c
    for module in MODULES:
        col = s[module]
        groups: list[tuple[Any, Any, Any]] = [(col, col, col != "")]
        if module == "destination":
            groups += [(literal_column("'cat:'") + s.dest_category, s.dest_category, col == REGISTERED),
                       (literal_column("'type:'") + s.dest_type, s.dest_type, col == REGISTERED)]
        for bucket, grouped, where in groups:
            for per_department in (True, False):
                dept = s.department_id if per_department else literal_column("0")
                rows = select(s.school_id, dept, s.cohort, literal_column(f"'{module}'"), bucket, func.count()) \
                    .where(where).group_by(s.school_id, s.cohort, grouped,
                                           *((s.department_id,) if per_department else ()))
                session.execute(insert(_COUNTER).from_select(
                    ["school_id", "department_id", "cohort", "module", "bucket", "n"], rows))
    session.info.pop(DIRTY, None)
    return int(session.scalar(select(func.count()).select_from(_STAT).where(s.destination != "")) or 0)


# -- the safety net: graduates written outside a step ------------------------------------------------------------
_TRACKED = (EffectiveDestination, RegisteredInfo, WorkItem, DestinationRecord)


def _collect(session: Session, flush_context: Any) -> None:
    found = session.info.get(DIRTY)
    for obj in chain(session.new, session.dirty, session.deleted):
        gid: int | None
        if isinstance(obj, Graduate):
            gid = obj.id
        elif isinstance(obj, _TRACKED):
            gid = obj.graduate_id
        else:
            continue
        if gid is not None:
            if found is None:
                found = session.info[DIRTY] = set()
            found.add(gid)


def _before_commit(session: Session) -> None:
    if session.get_nested_transaction() is not None:
        return  # a savepoint's release: the refresh waits for the transaction's own commit
    for _ in range(5):  # a refresh flushes; what that flush touched is refreshed too
        if session.info.get(DIRTY) is None:
            session.flush()
        ids = session.info.pop(DIRTY, None)
        if not ids:
            return
        refresh_graduates(session, ids)


def defer_refresh(session: Session, graduate_ids: Iterable[int]) -> None:
    """Refresh these graduates before the transaction commits: the steps of one transaction (a batch of timer
    steps) are recounted together, in one chunk."""
    session.info.setdefault(DIRTY, set()).update(i for i in graduate_ids if i is not None)


def _forget(session: Session, *_: Any) -> None:
    if session.get_nested_transaction() is not None:
        return  # a savepoint's rollback: the transaction goes on, and a refresh recounts from what it holds
    session.info.pop(DIRTY, None)


def install(target: Any = Session) -> None:
    """Listen on every session (of this process): refresh the graduates a transaction wrote, before it commits."""
    for name, fn in (("after_flush", _collect), ("before_commit", _before_commit),
                     ("after_rollback", _forget), ("after_commit", _forget)):
        if not event.contains(target, name, fn):
            event.listen(target, name, fn)


# -- reading them ----------------------------------------------------------------------------------------------
def counter_totals(session: Session, module: str, *, school_ids: Any = None, school_id: int | None = None,
                   department_id: int | None = None, cohort: int | None = None,
                   by: str = "school") -> dict[int, dict[str, int]]:
    """Counter sums per school (by="school": the school-level rows) or per 院系 (by="department").

    `school_ids` is a list or a subquery of schools (a province); `school_id` one school; `department_id`
    one 院系. A page reads at most (schools or 院系) x buckets rows."""
    c = _COUNTER.c
    key = c.school_id if by == "school" else c.department_id
    stmt = select(key, c.bucket, func.sum(c.n)).where(c.module == module)
    stmt = stmt.where(c.department_id == 0) if by == "school" else stmt.where(c.department_id != 0)
    if school_ids is not None:
        stmt = stmt.where(c.school_id.in_(school_ids))
    if school_id is not None:
        stmt = stmt.where(c.school_id == school_id)
    if department_id is not None:
        stmt = stmt.where(c.department_id == department_id)
    if cohort is not None:
        stmt = stmt.where(c.cohort == cohort)
    out: dict[int, dict[str, int]] = defaultdict(dict)
    for k, bucket, n in session.execute(stmt.group_by(key, c.bucket)):
        out[k][bucket] = int(n or 0)
    return dict(out)


def summary(buckets_n: dict[str, int]) -> dict[str, int]:
    """总人数 / 已登记 / 未登记 (审核中 included) / 审核中 of one row of counters."""
    registered = buckets_n.get(REGISTERED, 0)
    reviewing = buckets_n.get(REVIEWING, 0)
    unregistered = buckets_n.get(UNREGISTERED, 0) + reviewing
    return {"total": registered + unregistered, "registered": registered, "unregistered": unregistered,
            "reviewing": reviewing}
