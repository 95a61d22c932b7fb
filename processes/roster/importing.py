"""GRAD-1 bulk upload: the template, reading .xlsx/.csv, the background job in batches, the error report.

- The upload is checked at once (not empty, not too large, a real .xlsx or .csv, the template's headers, some
  data rows); a bad file is refused with the reason and changes nothing.
- The job (GraduateImportJob) validates every row with the one validator (rules.check_row), finds rows that
  repeat a 身份证号 or 学号 of an earlier row in the file, then writes batches of BATCH rows, each batch in its
  own transaction together with the job's progress, so a crashed worker's job resumes where it stopped.
- Against the database (unique: school + cohort + 身份证号): a row identical to the stored graduate is skipped as
  unchanged; a changed row updates the stored graduate (the school's file is the source of basic info); a row of
  a graduate the school had deleted revives that record without the old archive/hukou registrations (GRAD-5).
  Importing the same file twice therefore creates nothing the second time.
- .xlsx is read with python-calamine (fast, constant per row), .csv with the csv module (UTF-8 or GB18030).
- Bad rows are stored (GraduateImportError) and downloadable as an .xlsx report: row number, column, value, reason.
"""
from __future__ import annotations

import codecs
import csv
import io
import logging
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any, cast

from sqlalchemy import Table, insert, select, text
from sqlalchemy.orm import Session, sessionmaker

from core.db import utcnow
from core.errors import ValidationFailed
from domain import statistics
from domain.cohorts import ensure_cohort
from domain.models import Graduate, GraduateImportError, GraduateImportJob

from . import services
from .rules import BY_HEADER, COLUMNS, GRADUATE_FIELDS, HEADERS, REQUIRED_HEADERS, check_row, unchanged

log = logging.getLogger(__name__)

BATCH = 500
GRADUATE_TABLE = cast(Table, Graduate.__table__)
MAX_BYTES = 10 * 1024 * 1024  # below the app's upload limit, so the page can say it
MAX_ROWS = 50_000  # a large school has up to 30,000 graduates a year
ANALYZE_EVERY = 10  # batches between two ANALYZE of the graduate table (PostgreSQL)
STALE_AFTER = timedelta(minutes=5)  # a running job without progress this long has lost its worker
STATUS_NAMES = {"queued": "排队中", "running": "导入中", "done": "已完成", "failed": "导入失败"}
HEADER_OF = {c.key: c.header for c in COLUMNS}


class BadFile(ValidationFailed):
    """The uploaded file as a whole is refused (nothing is imported)."""


# -- reading -----------------------------------------------------------------------------------------------------

def file_kind(filename: str, data: bytes) -> str:
    """xlsx or csv, by content; BadFile for anything else."""
    if not data:
        raise BadFile("文件为空，请选择填好的 .xlsx 或 .csv 文件")
    if len(data) > MAX_BYTES:
        raise BadFile(f"文件过大（{len(data) / 1024 / 1024:.1f} MB），最大 {MAX_BYTES // 1024 // 1024} MB；请分成几个文件上传")
    name = (filename or "").lower()
    if data[:4] == b"PK\x03\x04":
        return "xlsx"
    if data[:8] == b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1":
        raise BadFile("不支持旧版 .xls 文件，请在 Excel 中另存为 .xlsx 后上传")
    if name.endswith((".xlsx", ".xlsm")) or b"\x00" in data[:4096]:
        raise BadFile("文件不是有效的 .xlsx 或 .csv 表格")
    return "csv"


def _decode(data: bytes) -> str:
    """UTF-8 (with or without BOM), else GB18030 (what Excel in Chinese saves as CSV)."""
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            return codecs.decode(data, encoding)
        except UnicodeDecodeError:
            continue
    raise BadFile("CSV 文件编码无法识别，请保存为 UTF-8 或 GBK 编码")


def iter_rows(data: bytes, kind: str) -> Iterator[list[Any]]:
    """Every row of the first sheet (or the CSV), the header first, as lists of cell values."""
    if kind == "csv":
        text = _decode(data)
        if "\x00" in text:
            raise BadFile("文件不是有效的 .xlsx 或 .csv 表格")
        try:
            yield from csv.reader(io.StringIO(text, newline=""))
        except csv.Error as exc:
            raise BadFile(f"CSV 文件格式有误：{exc}") from exc
        return
    from python_calamine import CalamineWorkbook  # a Rust reader: 30,000 rows in about a second

    try:
        workbook = CalamineWorkbook.from_filelike(io.BytesIO(data))
        rows = workbook.get_sheet_by_index(0).iter_rows()
    except Exception as exc:  # noqa: BLE001 - calamine raises its own errors for any broken file
        raise BadFile("文件不是有效的 .xlsx 表格（可能已损坏），请用模板重新填写") from exc
    try:
        for row in rows:
            yield list(row)
    except Exception as exc:  # noqa: BLE001
        raise BadFile("文件不是有效的 .xlsx 表格（可能已损坏），请用模板重新填写") from exc


def header_keys(header: list[Any]) -> list[str | None]:
    """The column key of each header cell; BadFile when a template column is missing or one is unknown."""
    names = [str(h).strip() if h is not None else "" for h in header]
    while names and not names[-1]:
        names.pop()
    unknown = [n for n in names if n and n not in BY_HEADER]
    missing = [h for h in REQUIRED_HEADERS if h not in names]
    repeated = sorted({n for n in names if n and names.count(n) > 1})
    if missing or unknown or repeated:
        parts = []
        if missing:
            parts.append("缺少列：" + "、".join(missing))
        if unknown:
            parts.append("无法识别的列：" + "、".join(unknown[:10]))
        if repeated:
            parts.append("重复的列：" + "、".join(repeated))
        raise BadFile("表头与模板不一致（" + "；".join(parts) + "）。请下载模板，按模板的列填写")
    return [BY_HEADER[n].key if n else None for n in names]


def read_file(data: bytes, kind: str) -> list[tuple[int, dict[str, Any]]]:
    """(row number in the file, {key: value}) of every non-empty data row; BadFile for a bad file."""
    rows = iter_rows(data, kind)
    header = next(rows, None)
    if header is None or not any(v not in (None, "") for v in header):
        raise BadFile("文件中没有表头，请下载模板，按模板的列填写")
    keys = header_keys(header)
    out: list[tuple[int, dict[str, Any]]] = []
    for number, row in enumerate(rows, start=2):
        if not any(v not in (None, "") and str(v).strip() for v in row):
            continue
        if len(out) >= MAX_ROWS:
            raise BadFile(f"数据行超过 {MAX_ROWS} 行，请分成几个文件上传")
        out.append((number, {k: v for k, v in zip(keys, row, strict=False) if k is not None}))
    if not out:
        raise BadFile("文件中没有数据行")
    return out


def check_upload(filename: str, data: bytes) -> str:
    """What the upload request checks before queueing the job: the kind, the headers; returns the kind."""
    kind = file_kind(filename, data)
    rows = iter_rows(data, kind)
    header = next(rows, None)
    if header is None or not any(v not in (None, "") for v in header):
        raise BadFile("文件中没有表头，请下载模板，按模板的列填写")
    header_keys(header)
    if next(rows, None) is None:
        raise BadFile("文件中没有数据行")
    if kind == "csv" and data.count(b"\n") > MAX_ROWS + 1:
        raise BadFile(f"数据行超过 {MAX_ROWS} 行，请分成几个文件上传")
    return kind


# -- the job -----------------------------------------------------------------------------------------------------

def create_job(session: Session, actor: Any, filename: str, data: bytes) -> GraduateImportJob:
    """A queued import of the acting school (basic read-write); BadFile when the file is refused."""
    school_id = services.require_school(actor, write=True)
    kind = check_upload(filename, data)
    job = GraduateImportJob(school_id=school_id, account_id=actor.id, filename=(filename or "")[:200],
                            file_kind=kind, data=data, status="queued")
    session.add(job)
    session.flush()
    return job


def job_of(session: Session, actor: Any, job_id: int) -> GraduateImportJob:
    """One import of the acting school (read-only accounts see progress and the report too)."""
    school_id = services.require_school(actor)
    job = session.get(GraduateImportJob, job_id)
    if job is None or job.school_id != school_id:
        from core.errors import Forbidden

        raise Forbidden("导入任务不存在或无权访问")
    return job


def is_stale(job: GraduateImportJob) -> bool:
    seen = job.heartbeat_at or job.started_at or job.created_at
    return job.status in ("queued", "running") and seen is not None and utcnow() - seen > STALE_AFTER


def _in_file_duplicates(checked: list[tuple[int, dict[str, Any], dict[str, str]]]) -> None:
    """A 身份证号 or 学号 that an earlier good row of the same cohort already has: the later row is bad."""
    first_id: dict[tuple[int, str], int] = {}
    first_no: dict[tuple[int, str], int] = {}
    for number, clean, errors in checked:
        if errors:
            continue
        id_key, no_key = (clean["cohort"], clean["id_number"]), (clean["cohort"], clean["student_no"])
        if id_key in first_id:
            errors["id_number"] = f"与第{first_id[id_key]}行的身份证号重复"
        elif no_key in first_no:
            errors["student_no"] = f"与第{first_no[no_key]}行的学号重复"
        else:
            first_id[id_key], first_no[no_key] = number, number


def _error_rows(job_id: int, number: int, raw: dict[str, Any], errors: dict[str, str]) -> list[dict[str, Any]]:
    from .rules import text

    return [{"job_id": job_id, "row": number, "column": HEADER_OF.get(key, ""),
             "value": text(raw.get(key))[:200], "reason": reason[:300]} for key, reason in errors.items()]


Batch = list[tuple[int, dict[str, Any], dict[str, Any], dict[str, str]]]


def _stored(session: Session, school_id: int, good: list[dict[str, Any]]) -> tuple[
        dict[tuple[int, str], Graduate], dict[tuple[int, str], tuple[str, str]]]:
    """The school's rows with these (cohort, 身份证号), deleted ones too; who holds these (cohort, 学号)."""
    existing: dict[tuple[int, str], Graduate] = {}
    keys = {(c["cohort"], c["id_number"]) for c in good}
    if keys:
        # by plain IN lists, which every database answers from its indexes (row-value IN is not always)
        for grad in session.scalars(select(Graduate).where(
                Graduate.id_number.in_(sorted({k[1] for k in keys})), Graduate.school_id == school_id)):
            if (grad.cohort, grad.id_number) in keys:
                existing[(grad.cohort, grad.id_number)] = grad
    taken: dict[tuple[int, str], tuple[str, str]] = {}
    numbers = {(c["cohort"], c["student_no"]) for c in good}
    if numbers:
        for cohort, student_no, id_number, name in session.execute(
                select(Graduate.cohort, Graduate.student_no, Graduate.id_number, Graduate.name).where(
                    Graduate.school_id == school_id, Graduate.deleted_at.is_(None),
                    Graduate.student_no.in_(sorted({k[1] for k in numbers})))):
            if (cohort, student_no) in numbers:
                taken[(cohort, student_no)] = (id_number, name)
    return existing, taken


def _apply_row(session: Session, grad: Graduate | None, clean: dict[str, Any]) -> str:
    """What one good row does to its stored graduate: created (nothing stored), revived, unchanged, updated."""
    if grad is None:
        return "created"
    if grad.deleted_at is not None:
        services.revive(session, grad, clean)
        return "revived"
    if unchanged(grad, clean):
        return "unchanged"
    for key in GRADUATE_FIELDS:
        setattr(grad, key, clean[key])
    return "updated"


def _write_batch(session: Session, job: GraduateImportJob, batch: Batch) -> None:
    """One batch: inserts, updates, revivals and error rows, the statistics, the job's counters."""
    school_id = job.school_id
    existing, taken = _stored(session, school_id, [c for _n, _raw, c, e in batch if not e])
    errors_out: list[dict[str, Any]] = []
    inserts: list[dict[str, Any]] = []
    touched: list[int] = []
    counts = {"created": 0, "updated": 0, "unchanged": 0, "revived": 0}
    for number, raw, clean, errors in batch:
        if not errors:
            holder = taken.get((clean["cohort"], clean["student_no"]))
            if holder is not None and holder[0] != clean["id_number"]:
                errors = {"student_no": f"学号已被本届其他毕业生（{holder[1]}）使用"}
        if errors:
            errors_out.extend(_error_rows(job.id, number, raw, errors))
            continue
        grad = existing.get((clean["cohort"], clean["id_number"]))
        outcome = _apply_row(session, grad, clean)
        counts[outcome] += 1
        if outcome == "created":
            inserts.append({"school_id": school_id, **{k: clean[k] for k in GRADUATE_FIELDS}})
        elif outcome != "unchanged" and grad is not None:
            touched.append(grad.id)
    for cohort in {row["cohort"] for row in inserts}:
        ensure_cohort(session, cohort)
    session.flush()
    if inserts:
        now = utcnow()
        # a plain executemany (no RETURNING): psycopg pipelines one prepared statement instead of parsing a
        # 500-row VALUES list per batch; the new ids are then read back by the unique key's index
        session.connection().execute(insert(GRADUATE_TABLE),
                                     [{"created_at": now, "updated_at": now, **row} for row in inserts])
        keys = {(row["cohort"], row["id_number"]) for row in inserts}
        touched.extend(gid for gid, cohort, id_number in session.execute(
            select(Graduate.id, Graduate.cohort, Graduate.id_number).where(
                Graduate.id_number.in_(sorted({k[1] for k in keys})), Graduate.school_id == school_id))
            if (cohort, id_number) in keys)
    if errors_out:
        session.execute(insert(GraduateImportError), errors_out)
    statistics.refresh_graduates(session, touched)
    job.created_rows += counts["created"]
    job.updated_rows += counts["updated"]
    job.unchanged_rows += counts["unchanged"]
    job.revived_rows += counts["revived"]
    job.error_rows += len({e["row"] for e in errors_out})


def run_job(Session: sessionmaker[Session] | Callable[[], Session], job_id: int,
            progress: Callable[[GraduateImportJob], None] | None = None) -> str:
    """Run (or resume) one import; returns its final status. Each batch is one transaction with the progress."""
    with Session() as session:
        job = session.get(GraduateImportJob, job_id)
        if job is None or job.status in ("done", "failed") or job.data is None:
            return job.status if job is not None else "missing"
        job.status, job.heartbeat_at = "running", utcnow()
        job.started_at = job.started_at or utcnow()
        data, kind, school_id, start = job.data, job.file_kind, job.school_id, job.processed_rows
        session.commit()
    try:
        rows = read_file(data, kind)
        with Session() as session:
            context = services.school_context(session, school_id)
        checked = []
        for number, raw in rows:
            clean, errors = check_row(raw, context)
            checked.append((number, clean, errors))
        _in_file_duplicates(checked)
        full = [(n, raw, c, e) for (n, raw), (_n, c, e) in zip(rows, checked, strict=True)]
        with Session() as session:
            found = session.get(GraduateImportJob, job_id)
            if found is None:
                return "missing"
            found.total_rows = len(full)
            session.commit()
        for offset in range(start, len(full), BATCH):
            if (offset - start) % (BATCH * ANALYZE_EVERY) == 0:
                _analyze(Session)
            with Session() as session:
                session.connection(execution_options={"sqlite_immediate": True})
                locked = session.get(GraduateImportJob, job_id, with_for_update=True)
                if locked is None or locked.processed_rows != offset or locked.status != "running":
                    return locked.status if locked is not None else "missing"  # another worker has taken it on
                _write_batch(session, locked, full[offset:offset + BATCH])
                locked.processed_rows = min(offset + BATCH, len(full))
                locked.heartbeat_at = utcnow()
                session.commit()
                if progress is not None:
                    progress(locked)
    except BadFile as exc:
        return _finish(Session, job_id, "failed", exc.message)
    except Exception:
        log.exception("graduate import %s failed", job_id)
        return _finish(Session, job_id, "failed", "导入过程中出现系统错误，已导入的批次保留；可点击“继续导入”从中断处继续")
    return _finish(Session, job_id, "done", None)


def _analyze(Session: Any) -> None:
    """PostgreSQL: fresh planner statistics of the growing graduate table, so the batch look-ups use its indexes
    (with none, a young table looks empty and each look-up scans every row against a 500-value list)."""
    with Session() as session:
        if session.get_bind().dialect.name == "postgresql":
            session.execute(text("ANALYZE graduate"))
            session.commit()


def _finish(Session: Any, job_id: int, status: str, message: str | None) -> str:
    with Session() as session:
        job = session.get(GraduateImportJob, job_id)
        job.status, job.message, job.finished_at = status, message, utcnow()
        if status == "done":
            job.data = None  # the rows are in; the report keeps only the bad cells
        session.commit()
    return status


MSG_NOT_QUEUED = "后台任务队列暂时不可用，文件已保存；请稍后点击“继续导入”"


def mark_not_queued(session_factory: Any, job_id: int) -> None:
    """The job is saved but no worker will see it: make it a failed job, which 继续导入 restarts."""
    with session_factory() as session:
        job = session.get(GraduateImportJob, job_id)
        if job is not None and job.status not in ("done", "failed"):
            job.status, job.message, job.finished_at = "failed", MSG_NOT_QUEUED, utcnow()
            session.commit()


def resume(session: Session, actor: Any, job_id: int) -> GraduateImportJob:
    """A failed job, or one whose worker vanished, continues from its last committed batch."""
    services.require_school(actor, write=True)
    job = job_of(session, actor, job_id)
    if job.data is None or not (job.status == "failed" or is_stale(job)):
        from core.errors import Conflict

        raise Conflict("该导入任务无需继续")
    job.status, job.message, job.finished_at, job.heartbeat_at = "running", None, None, utcnow()
    return job


def progress_json(job: GraduateImportJob) -> dict[str, Any]:
    total = job.total_rows
    percent = 100 if job.status == "done" else (int(job.processed_rows * 100 / total) if total else 0)
    return {
        "id": job.id, "filename": job.filename, "status": job.status,
        "status_name": "已中断" if is_stale(job) else STATUS_NAMES.get(job.status, job.status),
        "stale": is_stale(job), "total_rows": total, "processed_rows": job.processed_rows, "percent": percent,
        "created": job.created_rows, "updated": job.updated_rows, "unchanged": job.unchanged_rows,
        "revived": job.revived_rows, "errors": job.error_rows, "message": job.message,
        "finished": job.status in ("done", "failed"),
    }


# -- files to download -------------------------------------------------------------------------------------------

def _xlsx(sheets: list[tuple[str, list[list[Any]]]]) -> bytes:
    from openpyxl import Workbook  # type: ignore[import-untyped]

    workbook = Workbook(write_only=True)
    for title, rows in sheets:
        sheet = workbook.create_sheet(title)
        for row in rows:
            sheet.append(row)
    buf = io.BytesIO()
    workbook.save(buf)
    return buf.getvalue()


def template_xlsx() -> bytes:
    """The upload template: the GRAD-1 columns in SPEC order, and a sheet that explains each column."""
    from .dictionaries import ETHNICITY, POLITICAL_STATUS

    notes: list[list[Any]] = [["列", "是否必填", "最大长度", "填写说明"]]
    notes += [[c.header, "必填" if c.required else "选填", c.max_length, c.hint] for c in COLUMNS]
    notes += [[], ["民族代码"]] + [[code, name] for code, name in ETHNICITY]
    notes += [[], ["政治面貌代码"]] + [[code, name] for code, name in POLITICAL_STATUS]
    return _xlsx([("毕业生基本信息", [list(HEADERS)]), ("填写说明", notes)])


def error_report_xlsx(session: Session, job: GraduateImportJob) -> bytes:
    rows: list[list[Any]] = [["行号", "列", "填写的内容", "错误原因"]]
    for err in session.scalars(select(GraduateImportError).where(GraduateImportError.job_id == job.id)
                               .order_by(GraduateImportError.row, GraduateImportError.id)):
        rows.append([err.row, err.column or "整行", err.value, err.reason])
    return _xlsx([("错误报告", rows)])
