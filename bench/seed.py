"""The data generator for scale benches and tests (issue 11): a season of a whole country in minutes.

`build(runtime, instances=..., open_items=...)` fills an empty, migrated and deployed database with
~31 provinces, `schools` schools of 6-20 院系 each (school sizes skewed: a few large, many small), one department
reviewer per 院系 and one school reviewer per school, graduates of the 2026 cohort with their accounts, and
exactly `instances` process instances of which exactly `open_items` wait on an open (non-optional) work item:
at the department (等待院系审核), at the school (等待学校审核) or back with the graduate (退回修改). The others are
approved (审核通过, with the graduate's effective destination, DST-4) or, as a graduate's earlier filing, rejected.

How the rows are built "exactly as the engine would": the first graduates' instances are made by the real
services (`processes.destination.services.start_filing`, `processes.review.services.review`) through the real
runner, one template per state. Every other instance is a copy of its state's template with every row that
instance owns (process_instance, its state, work items, audit events, destination_record, effective_destination)
rewritten for its own graduate, 院系, school, reviewers, times and ids, and with fresh task ids in the workflow
state, so a seeded item opens and steps like one the engine made (tests/test_seed.py steps some).
Not built: statistics counters (`gradflow rebuild-statistics` recounts them), messages and outbox rows.

PostgreSQL gets the copies by COPY, SQLite by executemany; then sequences are moved past the ids used and the
tables are analysed (a bad plan until ANALYZE was one of issue 11's findings).
"""
from __future__ import annotations

import json
import math
import multiprocessing
import random
import re
import time
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import Table, func, insert, select, text

from core.db import Base
from domain import seed
from domain.accounts import actor_for, hash_password
from domain.models import Account, Department, Graduate, Province, School
from engine.models import FINISHED, ProcessInstance
from engine.serialization import encode_state
from processes.destination import services as filing
from processes.review import services as reviews

COHORT = 2026
SEASON_START = datetime(2026, 3, 1)
SEASON_DAYS = 100
BATCH = 20000
HISTORY_SHARE = 0.6  # of graduates, those who have an earlier (rejected) filing besides the current one
# the open states, in the shares they have among open items (department first, as in REV-1)
OPEN_KINDS = (("dept", 0.60), ("school", 0.25), ("returned", 0.15))
KINDS = ("dept", "school", "approved", "returned", "rejected")
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈姚卢"
GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华玉兰萍红鹏飞宇浩然子轩欣怡梓涵一诺思远嘉怡雨桐俊杰"
# 31 provincial divisions (GB/T 2260 codes) and a rough share of the country's schools each
PROVINCES = (
    ("110000", "北京市", 92), ("120000", "天津市", 56), ("130000", "河北省", 125), ("140000", "山西省", 82),
    ("150000", "内蒙古自治区", 54), ("210000", "辽宁省", 114), ("220000", "吉林省", 66), ("230000", "黑龙江省", 78),
    ("310000", "上海市", 68), ("320000", "江苏省", 168), ("330000", "浙江省", 109), ("340000", "安徽省", 121),
    ("350000", "福建省", 89), ("360000", "江西省", 106), ("370000", "山东省", 153), ("410000", "河南省", 156),
    ("420000", "湖北省", 130), ("430000", "湖南省", 128), ("440000", "广东省", 160), ("450000", "广西壮族自治区", 85),
    ("460000", "海南省", 21), ("500000", "重庆市", 70), ("510000", "四川省", 134), ("520000", "贵州省", 75),
    ("530000", "云南省", 82), ("540000", "西藏自治区", 7), ("610000", "陕西省", 97), ("620000", "甘肃省", 50),
    ("630000", "青海省", 12), ("640000", "宁夏回族自治区", 20), ("650000", "新疆维吾尔自治区", 56),
)
UUID_RE = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
# ids inside the workflow's task data that name domain rows: json key -> the table whose new id replaces it
DATA_IDS = {"graduate_id": "graduate", "record_id": "destination_record"}
# notifications a step left (delivered or not): not part of the state a reviewer or a step reads
NOT_COPIED = ("message", "outbox_message")
APPLICATION = {"dest_type": "job_seeking", "fields": {"note": "求职中，暂未签约"}, "attachment_ids": []}


@dataclass
class Report:
    instances: int = 0
    open_items: int = 0
    graduates: int = 0
    schools: int = 0
    provinces: int = 0
    departments: int = 0
    rows: dict[str, int] = field(default_factory=dict)
    by_kind: dict[str, int] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)


# -- the one place the workflow state is written (issue 11: H1 moved it out of process_instance, 0021) --------
def state_rows(instance_id: int, state_json: str, status: str, updated_at: datetime) -> list[tuple[str, dict]]:
    """The rows that hold one instance's workflow state, as engine.models stores it."""
    data = encode_state(state_json, finished=status in FINISHED)
    return [("instance_state", {"instance_id": instance_id, "data": data, "size": len(data),
                                "updated_at": updated_at})]


# -- writing many rows --------------------------------------------------------------------------------------
class Writer:
    """Buffers rows per table and writes them in batches: COPY on PostgreSQL, executemany on SQLite."""

    def __init__(self, runtime, fast: bool = False) -> None:
        self.engine = runtime.db
        self.pg = self.engine.dialect.name == "postgresql"
        self.tables: dict[str, Table] = Base.metadata.tables  # type: ignore[assignment]
        self.buffers: dict[str, list[dict]] = defaultdict(list)
        self.counts: dict[str, int] = defaultdict(int)
        self.seconds: dict[str, float] = defaultdict(float)
        self.order = [t.name for t in Base.metadata.sorted_tables]  # parents before children
        self.raw = self.engine.raw_connection() if self.pg else None
        self.conn = self.raw.driver_connection if self.raw is not None else None  # psycopg, for COPY
        if self.conn is not None:
            # a lost bulk load is simply run again; FK triggers are skipped only where the caller asks (bench)
            self.conn.execute("SET synchronous_commit = off")
            if fast:
                self.conn.execute("SET session_replication_role = replica")
            self.conn.commit()

    def add(self, table: str, row: dict) -> None:
        buf = self.buffers[table]
        buf.append(row)
        if len(buf) >= BATCH:
            self.flush()

    def flush(self) -> None:
        for name in self.order:
            rows = self.buffers.get(name)
            if rows:
                t0 = time.perf_counter()
                self._write(self.tables[name], rows)
                self.seconds[name] += time.perf_counter() - t0
                self.counts[name] += len(rows)
                rows.clear()

    def _write(self, table: Table, rows: list[dict]) -> None:
        columns = [c.name for c in table.columns if c.name in rows[0]]
        if not self.pg:
            with self.engine.begin() as conn:
                conn.execute(insert(table), rows)
            return
        json_cols = {c.name for c in table.columns if c.type.__class__.__name__ == "JSON"}
        assert self.conn is not None
        with self.conn.cursor() as cur:
            with cur.copy(f"COPY {table.name} ({', '.join(columns)}) FROM STDIN") as cp:  # type: ignore[attr-defined]
                for row in rows:
                    cp.write_row([json.dumps(row[c], ensure_ascii=False) if c in json_cols and row[c] is not None
                                  else row[c] for c in columns])
        self.conn.commit()

    def close(self) -> None:
        self.flush()
        if self.raw is not None:
            self.raw.close()


# -- organisations and people -------------------------------------------------------------------------------
def _school_sizes(graduates: int, schools: int, rng: random.Random) -> list[int]:
    """Graduates per school: lognormal (a few schools of 10,000+, most of a few thousand at national scale)."""
    weights = [rng.lognormvariate(0, 0.8) for _ in range(schools)]
    total = sum(weights)
    sizes = [max(1, int(graduates * w / total)) for w in weights]
    sizes[0] += graduates - sum(sizes)  # the first school takes the rounding (it also holds the templates)
    if sizes[0] < 1:
        raise ValueError("too few graduates for the schools asked")
    return sizes


def _person(rng: random.Random) -> str:
    return rng.choice(SURNAMES) + "".join(rng.choice(GIVEN) for _ in range(rng.choice((1, 2))))


@dataclass
class Org:
    department_ids: list[int]
    dept_reviewer: dict[int, tuple[int, str]]  # department id -> (account id, name)
    school_reviewer: dict[int, tuple[int, str]]  # school id -> (account id, name)
    school_of: dict[int, int]  # department id -> school id
    school_sizes: dict[int, int]


def _organisations(runtime, schools: int, provinces: int, graduates: int, rng: random.Random) -> tuple[Org, int]:
    chosen = PROVINCES[:provinces]
    with runtime.Session() as s:
        seed.ensure_cohort(s, COHORT)
        password = hash_password(seed.DEMO_PASSWORD)  # one hash for every seeded account (setup cost only)
        prov_rows = [Province(code=code, name=name, enabled_modules=["destination", "archive", "hukou"])
                     for code, name, _ in chosen]
        s.add_all(prov_rows)
        s.flush()
        weights = [w for _, _, w in chosen]
        school_rows = []
        for i in range(schools):
            province = prov_rows[i] if i < len(prov_rows) else rng.choices(prov_rows, weights)[0]
            school_rows.append(School(code=f"1{i:04d}", name=f"{province.name}第{i + 1}大学", province_id=province.id,
                                      open_modules=["destination", "archive", "hukou"]))
        s.add_all(school_rows)
        s.flush()
        dept_rows = []
        for sc in school_rows:
            dept_rows += [Department(school_id=sc.id, name=f"第{j + 1}学院") for j in range(rng.randint(6, 20))]
        s.add_all(dept_rows)
        s.flush()
        accounts = []
        for sc in school_rows:
            accounts.append(Account(username=f"school{sc.id}", role="school", display_name=f"{sc.name}就业指导中心",
                                    password_hash=password, school_id=sc.id, module_permissions=seed.ALL_READ_WRITE))
        for d in dept_rows:
            accounts.append(Account(username=f"dept{d.id}", role="department", display_name=f"{d.name}{d.id}审核员",
                                    password_hash=password, school_id=d.school_id, department_id=d.id,
                                    module_permissions=seed.ALL_READ_WRITE))
        s.add_all(accounts)
        s.flush()
        org = Org(department_ids=[d.id for d in dept_rows],
                  dept_reviewer={a.department_id: (a.id, a.display_name) for a in accounts if a.role == "department"},
                  school_reviewer={a.school_id: (a.id, a.display_name) for a in accounts if a.role == "school"},
                  school_of={d.id: d.school_id for d in dept_rows},
                  school_sizes=dict(zip([sc.id for sc in school_rows], _school_sizes(graduates, schools, rng),
                                        strict=True)))
        s.commit()
    return org, len(prov_rows)


def _graduates(writer: Writer, org: Org, first_id: int, first_account: int, rng: random.Random,
               password: str) -> list[tuple[int, int, int, str, str]]:
    """(graduate id, account id, department id, name, 学号) of every graduate, school by school."""
    depts_of: dict[int, list[int]] = defaultdict(list)
    for d, sc in org.school_of.items():
        depts_of[sc].append(d)
    out = []
    gid, aid = first_id, first_account
    now = SEASON_START - timedelta(days=30)
    for sc, size in org.school_sizes.items():
        depts = depts_of[sc]
        dweights = [rng.lognormvariate(0, 0.5) for _ in depts]
        for dept in rng.choices(depts, dweights, k=size):
            name = _person(rng)
            number = seed.id_number(area="110101", seq=gid)
            student_no = f"2022{gid:08d}"
            writer.add("graduate", dict(
                id=gid, school_id=sc, department_id=dept, cohort=COHORT, exam_no=f"26{gid:012d}", name=name,
                id_number=number, education="本科", gender=rng.choice("男女"), ethnicity="汉族",
                political_status="共青团员", training_mode="非定向", origin_code="110101", origin_name="北京市东城区",
                enrolled_on="202209", graduates_on="202606", student_no=student_no, major="计算机科学与技术",
                duration="4", archive_in_school=True, hukou_in_school=True, email=f"g{gid}@example.edu.cn",
                phone=f"13{gid:09d}", confirmed_at=now, created_at=now, updated_at=now))
            writer.add("account", dict(
                id=aid, username=f"g{gid}", password_hash=password, display_name=name, role="graduate",
                id_number=number, active=True, locale="zh", module_permissions={}, session_version=0,
                created_at=now, updated_at=now))
            out.append((gid, aid, dept, name, student_no))
            gid += 1
            aid += 1
    writer.flush()
    return out


# -- templates: real instances made by the real services --------------------------------------------------
def _templates(runtime, graduates: list[tuple[int, int, int, str, str]], org: Org) -> dict[str, int]:
    """One instance per state, made through the services and the runner; kind -> instance id."""
    made = {}
    for kind, (gid, aid, dept, _name, _no) in zip(KINDS, graduates, strict=False):
        def as_actor(s, account_id):
            return actor_for(s, s.get(Account, account_id))

        with runtime.Session() as s:
            s.connection(execution_options={"sqlite_immediate": True})
            inst = filing.start_filing(s, runtime.runner, as_actor(s, aid), s.get(Graduate, gid), APPLICATION)
            s.commit()
            iid = inst.id
        plan = {"dept": [], "school": [("dept", "approve")], "approved": [("dept", "approve"), ("school", "approve")],
                "returned": [("dept", "return")], "rejected": [("dept", "approve"), ("school", "reject")]}[kind]
        for level, decision in plan:
            reviewer = org.dept_reviewer[dept][0] if level == "dept" else org.school_reviewer[org.school_of[dept]][0]
            with runtime.Session() as s:
                s.connection(execution_options={"sqlite_immediate": True})
                item = s.scalar(text("SELECT id FROM work_item WHERE instance_id = :i AND state = 'open' "
                                     "AND form_key = :k").bindparams(i=iid, k=reviews.REVIEW_FORM_KEY))
                reviews.review(s, runtime.runner, as_actor(s, reviewer), item, decision,
                               "" if decision == "approve" else "材料不全，请补充")
                s.commit()
        made[kind] = iid
    return made


@dataclass
class Template:
    """An instance's rows with what a copy must change: the state text split around the ids it carries."""

    instance: dict
    state_format: str  # the state text as a str.format template: {k} the k-th task id, {graduate} ...
    uuids: list[str]
    owned: dict[str, list[dict]]  # table -> rows keyed by instance_id (work items, audit, domain rows)
    effective: list[dict]
    base_time: datetime
    graduate: tuple[int, int, int, str, str]
    accounts: dict[int, str]  # template account id -> "graduate" | "dept" | "school"
    plans: dict[str, list[list[tuple[str, str]]]] = field(default_factory=dict)  # table -> per row (_row_plan)


def _load_template(runtime, iid: int, graduate, org: Org) -> Template:
    tables = Base.metadata.tables
    with runtime.db.connect() as conn:
        inst = dict(conn.execute(select(tables["process_instance"]).where(
            tables["process_instance"].c.id == iid)).mappings().one())
        with runtime.Session() as s:
            state = s.get(ProcessInstance, iid).serialized
        owned = {}
        for name, table in tables.items():
            if name in ("process_instance", "instance_state") or "instance_id" not in table.c:
                continue
            rows = [dict(r) for r in conn.execute(select(table).where(table.c.instance_id == iid)).mappings()]
            if rows:
                owned[name] = rows
        eff = tables["effective_destination"]
        effective = [dict(r) for r in conn.execute(select(eff).where(eff.c.graduate_id == graduate[0])).mappings()]
    for name in NOT_COPIED:
        owned.pop(name, None)
    unknown = set(owned) - {"work_item", "audit_event", "destination_record"}
    if unknown:
        raise RuntimeError(f"template rows in tables the generator does not copy yet: {sorted(unknown)}")
    fmt, uuids, index, pos = [], [], {}, 0
    pattern = re.compile(UUID_RE.pattern + "|" + "|".join(rf'"{k}":\d+' for k in DATA_IDS))
    for m in pattern.finditer(state):
        fmt.append(state[pos:m.start()].replace("{", "{{").replace("}", "}}"))
        token = m.group(0)
        if UUID_RE.fullmatch(token):
            if token not in index:
                index[token] = len(uuids)
                uuids.append(token)
            fmt.append(f"{{{index[token]}}}")
        else:
            key = token.split('"')[1]
            fmt.append(f'"{key}":{{{DATA_IDS[key]}}}')
        pos = m.end()
    fmt.append(state[pos:].replace("{", "{{").replace("}", "}}"))
    dept = graduate[2]
    accounts = {graduate[1]: "graduate", org.dept_reviewer[dept][0]: "dept",
                org.school_reviewer[org.school_of[dept]][0]: "school"}
    t = Template(instance=inst, state_format="".join(fmt), uuids=uuids, owned=owned,
                 effective=effective, base_time=inst["created_at"], graduate=graduate, accounts=accounts)
    for table, rows in {"process_instance": [inst], "effective_destination": effective, **owned}.items():
        t.plans[table] = [_row_plan(table, row, t) for row in rows]
    return t


# -- copies ----------------------------------------------------------------------------------------------------
COPIED_IDS = ("process_instance", "work_item", "audit_event", "destination_record")


def _rows_of(t: Template) -> dict[str, int]:
    """How many ids of each table one copy of `t` takes."""
    return {"process_instance": 1, **{name: len(t.owned.get(name, ())) for name in COPIED_IDS[1:]}}


class Ids:
    """The next id of each copied table, from a start the caller reserved (chunks copy side by side)."""

    def __init__(self, start: dict[str, int]) -> None:
        self.next = dict(start)

    @staticmethod
    def first(runtime) -> dict[str, int]:
        with runtime.db.connect() as conn:
            return {name: (conn.scalar(select(func.max(Base.metadata.tables[name].c.id))) or 0) + 1
                    for name in COPIED_IDS}

    def take(self, table: str) -> int:
        value = self.next[table]
        self.next[table] = value + 1
        return value


def _copy(writer: Writer, ids: Ids, t: Template, who: tuple[int, int, int, str, str], org: Org, at: datetime,
          tails: list[str]) -> None:
    gid, aid, dept, name, student_no = who
    school = org.school_of[dept]
    iid = ids.take("process_instance")
    new_ids: dict[str, int] = {"graduate": gid}
    if "destination_record" in t.owned:
        new_ids["destination_record"] = ids.take("destination_record")
    accounts = {"graduate": (aid, name), "dept": org.dept_reviewer[dept], "school": org.school_reviewer[school]}
    shift = at - t.base_time
    prefix = f"{iid:08x}"
    uuids = [prefix + tail for tail in tails[:len(t.uuids)]]  # unique per (instance, task), never a uuid4's
    values = {"iid": iid, "gid": gid, "school": school, "dept": dept, "name": name, "no": student_no,
              "record": new_ids.get("destination_record"), **{f"task:{u}": n for u, n in zip(t.uuids, uuids,
                                                                                            strict=True)}}
    for role, (account_id, account_name) in accounts.items():
        values[f"account:{role}"], values[f"name:{role}"] = account_id, account_name

    def rewrite(row: dict, plan: list[tuple[str, str]], table: str) -> dict:
        out = dict(row)
        for col, what in plan:
            if what == "time":
                out[col] = row[col] + shift
            elif what == "own":
                out[col] = ids.take(table)
            else:
                out[col] = values[what]
        return out

    inst = rewrite(t.instance, t.plans["process_instance"][0], "process_instance")
    writer.add("process_instance", inst)
    for table, row in state_rows(iid, t.state_format.format(*uuids, **new_ids), inst["status"], inst["updated_at"]):
        writer.add(table, row)
    for table, rows in t.owned.items():
        for row, plan in zip(rows, t.plans[table], strict=True):
            writer.add(table, rewrite(row, plan, table))
    for row, plan in zip(t.effective, t.plans["effective_destination"], strict=True):
        writer.add("effective_destination", rewrite(row, plan, "effective_destination"))


def _row_plan(table: str, row: dict, t: Template) -> list[tuple[str, str]]:
    """What a copy changes in one template row: (column, what) with what a key of _copy's values, or "time"
    (shifted to the copy's day) or "own" (a new id of the row's table)."""
    plan = []
    for col, value in row.items():
        if isinstance(value, datetime):
            plan.append((col, "time"))
        elif col == "id":
            plan.append((col, {"process_instance": "iid", "destination_record": "record"}.get(table, "own")))
        elif col == "instance_id":
            plan.append((col, "iid"))
        elif col == "record_id" and table == "effective_destination":
            plan.append((col, "record"))
        elif value is not None and col in COPY_COLUMNS:
            plan.append((col, COPY_COLUMNS[col]))
        elif col == "task_id" and value in t.uuids:
            plan.append((col, f"task:{value}"))
        elif col in ("completed_by", "actor_id") and value in t.accounts:
            plan.append((col, f"account:{t.accounts[value]}"))
            if col == "actor_id":
                plan.append(("actor_name", f"name:{t.accounts[value]}"))
    return plan


COPY_COLUMNS = {"graduate_id": "gid", "school_id": "school", "department_id": "dept", "subject_name": "name",
                "subject_no": "no"}


def _plan(graduates: int, instances: int, open_items: int, rng: random.Random) -> list[list[str]]:
    """Kinds per graduate after the templates' (which hold one each): totals exactly as asked."""
    rest = graduates - len(KINDS)
    history = instances - len(KINDS) - rest
    open_rest = open_items - sum(1 for k in KINDS if k in dict(OPEN_KINDS))
    if not (0 <= history <= rest and 0 <= open_rest <= rest):
        raise ValueError(f"cannot place {instances} instances with {open_items} open on {graduates} graduates")
    current = []
    for i, (kind, share) in enumerate(OPEN_KINDS):
        n = open_rest - len(current) if i == len(OPEN_KINDS) - 1 else round(open_rest * share)
        current += [kind] * n
    current += ["approved"] * (rest - len(current))
    rng.shuffle(current)
    with_history = set(rng.sample(range(rest), history))
    return [(["rejected"] if i in with_history else []) + [kind] for i, kind in enumerate(current)]


def graduates_for(instances: int) -> int:
    return max(len(KINDS) + 1, math.ceil(instances / (1 + HISTORY_SHARE)))


LOADED = ("graduate", "account", "process_instance", "instance_state", "work_item", "audit_event",
          "destination_record", "effective_destination")


@contextmanager
def without_indexes(runtime, enabled: bool) -> Iterator[None]:
    """PostgreSQL bulk mode: drop the loaded tables' plain indexes (not those of primary keys or unique
    constraints) and build them again afterwards: one sorted build instead of a million random inserts."""
    if not enabled or runtime.db.dialect.name != "postgresql":
        yield
        return
    with runtime.db.begin() as conn:
        found = conn.execute(text(
            "SELECT i.indexname, i.indexdef FROM pg_indexes i WHERE i.schemaname = current_schema() "
            "AND i.tablename = ANY(:t) AND NOT EXISTS (SELECT 1 FROM pg_constraint c "
            "WHERE c.conname = i.indexname)").bindparams(t=list(LOADED))).all()
        for name, _ in found:
            conn.execute(text(f'DROP INDEX "{name}"'))
    try:
        yield
    finally:
        with runtime.db.begin() as conn:
            conn.execute(text("SET maintenance_work_mem = '256MB'"))
            for _, definition in found:
                conn.execute(text(definition))


def build(runtime, instances: int, open_items: int | None = None, *, schools: int = 300, provinces: int = 31,
          seed_value: int = 11, fast: bool = False) -> Report:
    """Fill an empty, migrated, deployed database (see the module docstring); returns what it made.
    `fast` (PostgreSQL, benches): copy without FK triggers and build the indexes after the load; the tests
    load the same rows with every constraint checked."""
    rng = random.Random(seed_value)
    open_items = instances // 5 if open_items is None else open_items
    n_grad = graduates_for(instances)
    report = Report(instances=instances, open_items=open_items, graduates=n_grad)
    org, report.provinces = _organisations(runtime, schools, min(provinces, schools), n_grad, rng)
    report.schools, report.departments = schools, len(org.department_ids)
    with without_indexes(runtime, fast):
        _load(runtime, report, org, rng, instances, open_items, fast)
    t3 = time.perf_counter()
    analyze(runtime)
    report.seconds["analyze"] = time.perf_counter() - t3
    return report


def _load(runtime, report: Report, org: Org, rng: random.Random, instances: int, open_items: int,
          fast: bool) -> None:
    t0 = time.perf_counter()
    n_grad = report.graduates
    writer = Writer(runtime, fast)
    with runtime.db.connect() as conn:
        first_g = (conn.scalar(text("SELECT max(id) FROM graduate")) or 0) + 1
        first_a = (conn.scalar(text("SELECT max(id) FROM account")) or 0) + 1
        password = conn.scalar(text("SELECT password_hash FROM account ORDER BY id LIMIT 1"))
    people = _graduates(writer, org, first_g, first_a, rng, password)
    _fix_sequences(runtime, ("graduate", "account"))
    report.seconds["people"] = time.perf_counter() - t0
    t1 = time.perf_counter()
    made = _templates(runtime, people, org)
    templates = {kind: _load_template(runtime, iid, people[i], org) for i, (kind, iid) in enumerate(made.items())}
    report.seconds["templates"] = time.perf_counter() - t1
    t2 = time.perf_counter()
    writer.close()  # the people's rows; the copies write through their own connections
    report.rows = dict(writer.counts)
    salt = f"{rng.getrandbits(60):015x}"
    tails = [f"-{k >> 12 & 0xffff:04x}-4{k & 0xfff:03x}-8{salt[:3]}-{salt[3:15]}"
             for k in range(max(len(t.uuids) for t in templates.values()))]
    work = list(zip(people[len(KINDS):], _plan(n_grad, instances, open_items, rng), strict=True))
    processes = WORKERS if fast and runtime.db.dialect.name == "postgresql" else 1
    chunks = [work[i * len(work) // processes:(i + 1) * len(work) // processes] for i in range(processes)]
    start, children = Ids.first(runtime), []
    for number, chunk in enumerate(chunks):
        job = (runtime, templates, org, chunk, dict(start), tails, fast, seed_value_of(rng, number))
        if processes == 1:
            _copy_chunk(*job)
        else:  # forked: each child copies its chunk through its own connection
            child = multiprocessing.get_context("fork").Process(target=_copy_chunk, args=job)
            child.start()
            children.append(child)
        for _who, kinds in chunk:
            for kind in kinds:
                for table, n in _rows_of(templates[kind]).items():
                    start[table] += n
    for child in children:
        child.join()
        if child.exitcode != 0:
            raise RuntimeError(f"a copying process failed (exit code {child.exitcode})")
    counts = {kind: 1 for kind in KINDS}
    for _, kinds in work:
        for kind in kinds:
            counts[kind] += 1
            for table, n in {**_rows_of(templates[kind]), "instance_state": 1,
                             "effective_destination": len(templates[kind].effective)}.items():
                report.rows[table] = report.rows.get(table, 0) + n
    report.by_kind = counts
    _fix_sequences(runtime, COPIED_IDS)
    report.seconds["copies"] = time.perf_counter() - t2


WORKERS = 2  # copying processes on PostgreSQL in fast mode (the machine has 2 cores)


def seed_value_of(rng: random.Random, number: int) -> int:
    return rng.getrandbits(32) + number


def _copy_chunk(runtime, templates: dict[str, Template], org: Org, chunk, start: dict[str, int], tails: list[str],
                fast: bool, seed_value: int) -> None:
    """Copy the templates for one chunk of graduates, with ids from `start` on (reserved for this chunk)."""
    if multiprocessing.parent_process() is not None:
        runtime.db.dispose(close=False)  # a forked child never shares its parent's pooled connections
    rng = random.Random(seed_value)
    ids = Ids(start)
    writer = Writer(runtime, fast)
    for who, kinds in chunk:
        for kind in kinds:
            # the current filing waits since some day of the season; an earlier one was decided before it
            at = SEASON_START + timedelta(seconds=rng.randrange(SEASON_DAYS * 86400))
            if kind == "rejected":
                at -= timedelta(days=20)
            _copy(writer, ids, templates[kind], who, org, at, tails)
    writer.close()


def _fix_sequences(runtime, tables: tuple[str, ...]) -> None:
    """PostgreSQL: move each id sequence past the ids written by hand (SQLite takes max(id) + 1 itself)."""
    if runtime.db.dialect.name != "postgresql":
        return
    with runtime.db.begin() as conn:
        for table in tables:
            conn.execute(text(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                              f"(SELECT coalesce(max(id), 1) FROM {table}))"))


def analyze(runtime) -> None:
    """Fresh planner statistics after a bulk load."""
    if runtime.db.dialect.name == "postgresql":
        with runtime.db.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("VACUUM ANALYZE"))
    else:
        with runtime.db.begin() as conn:
            conn.execute(text("ANALYZE"))


def sample(runtime, kind_label: str, n: int = 5) -> Iterator[int]:
    """Ids of up to n seeded instances whose status label is `kind_label` (tests and benches pick from them)."""
    with runtime.db.connect() as conn:
        yield from conn.scalars(text("SELECT id FROM process_instance WHERE status_label = :l ORDER BY id DESC "
                                     "LIMIT :n").bindparams(l=kind_label, n=n))
