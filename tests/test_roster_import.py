"""GRAD-1 bulk upload of graduates' basic information: validation of every row, the error report, idempotent
re-imports, bad files, permissions, the background job (eager here, the real Celery worker in one test)."""
from __future__ import annotations

import io
import os
import subprocess
import sys
import time
import uuid

import pytest
from sqlalchemy import func, select

from domain.models import Account, Graduate, GraduateImportError, GraduateImportJob
from tests.conftest import REDIS_URL, ROOT, port_open, require_service
from tests.roster_helpers import csv_bytes, good_row, id_number, job_id_of, read_report, upload, xlsx_bytes


def graduates(runtime) -> int:
    with runtime.Session() as s:
        return s.scalar(select(func.count()).select_from(Graduate)) or 0


def set_basic(runtime, username: str, permission: str) -> None:
    with runtime.Session() as s:
        account = s.scalar(select(Account).where(Account.username == username))
        account.module_permissions = {**(account.module_permissions or {}), "basic": permission}
        s.commit()


# the 20+ kinds of bad rows: (row changes, the column reported, a part of the reason)
BAD = [
    ({"姓名": ""}, "姓名", "必填"),
    ({"身份证号": id_number(7)[:-1] + ("0" if id_number(7)[-1] != "0" else "1")}, "身份证号", "校验位"),
    ({"身份证号": "350203200302310011"}, "身份证号", ""),  # 2月31日: check digit or birth date refused
    ({"毕业院校": "福州大学"}, "毕业院校", "本校"),
    ({"学历": "博士后"}, "学历", "字典"),
    ({"性别": "未知"}, "性别", "字典"),
    ({"民族": "火星族"}, "民族", "字典"),
    ({"政治面貌": "无"}, "政治面貌", "字典"),
    ({"培养方式": "自费"}, "培养方式", "字典"),
    ({"生源所在地": "999999"}, "生源所在地", "行政区划"),
    ({"入学时间": "2022-09"}, "入学时间", "YYYYMM"),
    ({"入学时间": "202609", "毕业时间": "202606"}, "毕业时间", "晚于入学时间"),
    ({"院系": "火星学院"}, "院系", "不存在"),
    ({"电子邮箱": "not-an-email"}, "电子邮箱", "格式"),
    ({"手机号码": "12345"}, "手机号码", "11位"),
    ({"专业": "长" * 101}, "专业", "100"),
    ({"培养方式": "定向"}, "定向单位", "定向单位"),
    ({"届别": "2025"}, "届别", "不一致"),
    ({"学制": "abc"}, "学制", "学制"),
    ({"档案是否转入学校": "可能"}, "档案是否转入学校", "是"),
    ({"考生号": "26-35"}, "考生号", "字母和数字"),
    ({"培养方式": "非定向", "定向单位": "某部队"}, "定向单位", "非定向"),
]


def bad_file_rows() -> tuple[list[dict[str, str]], dict[int, tuple[str, str]]]:
    """Good rows 1..5, then each bad kind, then duplicates of row 2's 身份证号 and of row 3's 学号."""
    rows = [good_row(n) for n in range(1, 6)]
    expected: dict[int, tuple[str, str]] = {}
    for i, (changes, column, reason) in enumerate(BAD):
        rows.append(good_row(100 + i, **changes))
        expected[len(rows) + 1] = (column, reason)  # +1: the header is row 1
    rows.append(good_row(200, 身份证号=rows[1]["身份证号"]))
    expected[len(rows) + 1] = ("身份证号", "与第3行的身份证号重复")
    rows.append(good_row(201, 学号=rows[2]["学号"]))
    expected[len(rows) + 1] = ("学号", "与第4行的学号重复")
    return rows, expected


@pytest.mark.parametrize("kind", ["xlsx", "csv"])
def test_bad_rows_are_reported_with_row_and_column_and_good_rows_are_in(app, runtime, world, client_for, kind):
    # rule GRAD-1
    rows, expected = bad_file_rows()
    data = xlsx_bytes(rows) if kind == "xlsx" else csv_bytes(rows)
    school = client_for("school")
    job_id = job_id_of(upload(school, data, f"graduates.{kind}"))
    progress = school.get(f"/school/graduates/import/{job_id}/progress").json
    assert progress["status"] == "done" and progress["percent"] == 100
    assert progress["total_rows"] == len(rows)
    assert progress["created"] == 5 and progress["errors"] == len(expected)
    report = read_report(school.get(f"/school/graduates/import/{job_id}/errors.xlsx").data)
    by_row = {}
    for row_no, column, _value, reason in report:
        by_row.setdefault(row_no, []).append((column, reason))
    assert set(by_row) == set(expected), (sorted(by_row), sorted(expected))
    for row_no, (column, reason) in expected.items():
        assert any(c == column and reason in r for c, r in by_row[row_no]), (row_no, column, reason, by_row[row_no])
    with runtime.Session() as s:
        names = set(s.scalars(select(Graduate.name)))
        assert names == {f"学生{n}" for n in range(1, 6)}
        one = s.scalar(select(Graduate).where(Graduate.name == "学生1"))
        assert one.origin_code == "350203" and one.origin_name == "福建省厦门市思明区"
        assert one.cohort == 2026 and one.archive_in_school is True and one.hukou_in_school is False
        assert one.gender == "女" and one.department_id == world.info.id and one.school_id == world.school.id


def test_same_file_twice_creates_no_duplicates_and_changed_rows_update(app, runtime, world, client_for):
    # rule GRAD-1
    rows = [good_row(n) for n in range(1, 11)]
    school = client_for("school")
    first = school.get(f"/school/graduates/import/{job_id_of(upload(school, xlsx_bytes(rows), 'a.xlsx'))}/progress").json
    assert first["created"] == 10 and first["errors"] == 0
    again = school.get(f"/school/graduates/import/{job_id_of(upload(school, xlsx_bytes(rows), 'a.xlsx'))}/progress").json
    assert again["created"] == 0 and again["unchanged"] == 10 and again["updated"] == 0
    assert graduates(runtime) == 10
    rows[0]["专业"] = "人工智能"
    rows[1]["民族"] = "08"  # a code is accepted and stored by its name
    third = school.get(f"/school/graduates/import/{job_id_of(upload(school, csv_bytes(rows), 'a.csv'))}/progress").json
    assert third["updated"] == 2 and third["unchanged"] == 8 and third["created"] == 0
    with runtime.Session() as s:
        assert s.scalar(select(Graduate.major).where(Graduate.name == "学生1")) == "人工智能"
        assert s.scalar(select(Graduate.ethnicity).where(Graduate.name == "学生2")) == "壮族"
    assert graduates(runtime) == 10


def test_gbk_csv_and_numeric_cells_are_read(app, runtime, world, client_for):
    # rule GRAD-1
    from openpyxl import Workbook

    school = client_for("school")
    resp = upload(school, csv_bytes([good_row(1)], encoding="gb18030"), "gbk.csv")
    assert school.get(f"/school/graduates/import/{job_id_of(resp)}/progress").json["created"] == 1
    wb = Workbook()
    ws = wb.active
    from processes.roster.rules import HEADERS

    ws.append(list(HEADERS))
    row = good_row(2)
    ws.append([int(row[h]) if h in ("入学时间", "毕业时间", "学制", "届别", "生源所在地") else row[h] for h in HEADERS])
    buf = io.BytesIO()
    wb.save(buf)
    resp = upload(school, buf.getvalue(), "numbers.xlsx")
    assert school.get(f"/school/graduates/import/{job_id_of(resp)}/progress").json["created"] == 1


@pytest.mark.parametrize("data,filename,reason", [
    (b"", "empty.csv", "文件为空"),
    (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + b"\x00" * 64, "photo.xlsx", "不是有效的"),
    (b"PK\x03\x04 this is no zip", "broken.xlsx", "不是有效的 .xlsx"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 64, "old.xls", ".xls"),
    ("姓名,学号\n张三,1\n".encode(), "wrong.csv", "表头与模板不一致"),
    (csv_bytes([]), "header-only.csv", "没有数据行"),
    (b"x" * (10 * 1024 * 1024 + 10), "huge.csv", "文件过大"),
])
def test_bad_files_are_refused_and_change_nothing(app, runtime, world, client_for, data, filename, reason):
    # rule GRAD-1
    school = client_for("school")
    resp = upload(school, data, filename)
    assert resp.status_code == 422 and reason in resp.get_data(as_text=True)
    with runtime.Session() as s:
        assert s.scalar(select(func.count()).select_from(GraduateImportJob)) == 0
    assert graduates(runtime) == 0


def test_wrong_headers_name_what_is_missing_and_unknown(app, runtime, world, client_for):
    # rule GRAD-1
    from processes.roster.rules import HEADERS

    headers = [h for h in HEADERS if h != "身份证号"] + ["备注"]
    resp = upload(client_for("school"), csv_bytes([good_row(1)], headers=headers), "x.csv")
    text = resp.get_data(as_text=True)
    assert resp.status_code == 422 and "缺少列：身份证号" in text and "无法识别的列：备注" in text


def test_template_has_the_grad1_columns_in_spec_order(app, runtime, world, client_for):
    # rule GRAD-1
    from openpyxl import load_workbook

    set_basic(runtime, "school", "ro")
    resp = client_for("school").get("/school/graduates/template.xlsx")
    assert resp.status_code == 200 and resp.mimetype.endswith("spreadsheetml.sheet")
    header = next(load_workbook(io.BytesIO(resp.data), read_only=True).worksheets[0].iter_rows(values_only=True))
    assert list(header[:20]) == ["考生号", "姓名", "身份证号", "毕业院校", "学历", "性别", "民族", "政治面貌", "培养方式",
                                 "生源所在地", "入学时间", "毕业时间", "学号", "院系", "专业", "学制", "档案是否转入学校",
                                 "户口是否转入学校", "电子邮箱", "手机号码"]
    assert list(header[20:]) == ["届别", "定向单位", "定向单位地址"]


def test_read_only_school_views_and_downloads_but_cannot_import(app, runtime, world, client_for):
    # rules GRAD-1, ROLE-2
    school = client_for("school")
    job_id = job_id_of(upload(school, csv_bytes([good_row(1), good_row(2, 姓名="")]), "a.csv"))
    set_basic(runtime, "school", "ro")
    school = client_for("school")
    page = school.get("/school/graduates/import")
    assert page.status_code == 200 and "只读" in page.get_data(as_text=True)
    assert school.get(f"/school/graduates/import/{job_id}").status_code == 200
    assert school.get(f"/school/graduates/import/{job_id}/errors.xlsx").status_code == 200
    assert upload(school, csv_bytes([good_row(3)]), "b.csv").status_code == 404
    set_basic(runtime, "school", "none")
    school = client_for("school")
    assert school.get("/school/graduates/import").status_code == 404
    assert school.get("/school/graduates/template.xlsx").status_code == 404
    assert graduates(runtime) == 1


def test_department_and_graduate_accounts_cannot_import(app, runtime, world, client_for, make_graduate):
    # rules GRAD-1, ROLE-1
    make_graduate("g1")
    for username in ("dept_info", "g1"):
        client = client_for(username)
        assert upload(client, csv_bytes([good_row(1)]), "a.csv").status_code == 404
        assert client.get("/school/graduates/template.xlsx").status_code == 404
    assert graduates(runtime) == 1


def test_api_import_progress_and_report(app, runtime, world):
    # rule GRAD-1
    api = app.test_client()
    token = api.post("/api/v1/token", json={"username": "school", "password": "demo1234"}).json["token"]
    headers = {"Authorization": f"Bearer {token}"}
    data = xlsx_bytes([good_row(1), good_row(2, 性别="X")])
    resp = api.post("/api/v1/school/graduates/imports", headers=headers, content_type="multipart/form-data",
                    data={"file": (io.BytesIO(data), "a.xlsx")})
    assert resp.status_code == 202, resp.json
    job_id = resp.json["id"]
    progress = api.get(f"/api/v1/school/graduates/imports/{job_id}", headers=headers).json
    assert progress["status"] == "done" and progress["created"] == 1 and progress["errors"] == 1
    report = read_report(api.get(f"/api/v1/school/graduates/imports/{job_id}/errors.xlsx", headers=headers).data)
    assert report[0][:2] == (3, "性别")
    bad = api.post("/api/v1/school/graduates/imports", headers=headers, content_type="multipart/form-data",
                   data={"file": (io.BytesIO(b"hello"), "a.xlsx")})
    assert bad.status_code == 422 and "不是有效的" in bad.json["error"]["message"]


def test_a_crashed_job_resumes_from_its_last_batch(app, runtime, world, client_for, monkeypatch):
    # rule GRAD-1: batches commit with the progress; a failure keeps what was imported and can continue
    from processes.roster import importing

    monkeypatch.setattr(importing, "BATCH", 4)
    real = importing._write_batch
    calls = {"n": 0}

    def flaky(session, job, batch):
        calls["n"] += 1
        if calls["n"] == 3:
            raise RuntimeError("worker lost")
        return real(session, job, batch)

    monkeypatch.setattr(importing, "_write_batch", flaky)
    school = client_for("school")
    job_id = job_id_of(upload(school, csv_bytes([good_row(n) for n in range(1, 11)]), "a.csv"))
    progress = school.get(f"/school/graduates/import/{job_id}/progress").json
    assert progress["status"] == "failed" and progress["processed_rows"] == 8 and "继续导入" in progress["message"]
    assert graduates(runtime) == 8
    resp = school.post(f"/school/graduates/import/{job_id}/resume")
    assert resp.status_code == 302
    progress = school.get(f"/school/graduates/import/{job_id}/progress").json
    assert progress["status"] == "done" and progress["created"] == 10 and progress["processed_rows"] == 10
    assert graduates(runtime) == 10
    with runtime.Session() as s:
        assert s.get(GraduateImportJob, job_id).data is None
        assert s.scalar(select(func.count()).select_from(GraduateImportError)) == 0


def test_progress_page_uses_a_static_script(app, runtime, world, client_for):
    # rule GRAD-1
    school = client_for("school")
    job_id = job_id_of(upload(school, csv_bytes([good_row(1)]), "a.csv"))
    page = school.get(f"/school/graduates/import/{job_id}").get_data(as_text=True)
    assert 'src="/roster/static/roster.js"' in page and "data-progress-url" in page and "<script>" not in page
    assert school.get("/roster/static/roster.js").status_code == 200


@pytest.mark.service
def test_import_runs_in_a_real_celery_worker(runtime, database_url, tmp_path, world):
    # rule GRAD-1: the production path: the task by name through Redis to `gradflow worker`
    from celery import Celery

    from domain.accounts import actor_for
    from processes.roster import importing

    # a Redis database of its own: the timer/outbox worker test's beat feeds the suite's default one
    broker = REDIS_URL.rsplit("/", 1)[0] + "/" + ("12" if "14" in REDIS_URL.rsplit("/", 1)[1] else "13")
    host_port = broker.split("//", 1)[1].split("/", 1)[0]
    host, port = host_port.split(":")
    if not port_open(host, int(port)):
        require_service("Redis", f"nothing listens on {host_port}")
    rows = [good_row(n) for n in range(1, 1201)] + [good_row(2000, 性别="?")]
    with runtime.Session() as s:
        account = s.scalar(select(Account).where(Account.username == "school"))
        job = importing.create_job(s, actor_for(s, account), "worker.xlsx", xlsx_bytes(rows))
        s.commit()
        job_id = job.id
    import redis

    redis.Redis.from_url(broker).delete("celery")
    env = {**os.environ, "GRADFLOW_MODE": "production", "SECRET_KEY": "worker-" + uuid.uuid4().hex,
           "CELERY_BROKER_URL": broker, "CELERY_EAGER": "0", "DATABASE_URL": database_url,
           "GRADFLOW_VAR_DIR": str(tmp_path / "var"), "GRADFLOW_EXTRA_MODULES": "tests.modules.testkit",
           "PYTHONPATH": str(ROOT), "PYTHONUNBUFFERED": "1"}
    env.pop("GRADFLOW_PASSWORD_HASH", None)
    script = os.path.join(os.path.dirname(sys.executable), "gradflow")
    log_path = tmp_path / "worker.log"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen([script, "worker", "--concurrency", "1"], env=env, cwd=str(ROOT), stdout=log,
                                stderr=subprocess.STDOUT, start_new_session=True)
        try:
            Celery("sender", broker=broker).send_task("gradflow.import_graduates", args=[job_id])
            deadline = time.monotonic() + 60
            status = None
            while time.monotonic() < deadline:
                assert proc.poll() is None, log_path.read_text(errors="replace")
                with runtime.Session() as s:
                    status = s.get(GraduateImportJob, job_id).status
                if status in ("done", "failed"):
                    break
                time.sleep(0.5)
            assert status == "done", log_path.read_text(errors="replace")[-3000:]
        finally:
            import signal

            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
    with runtime.Session() as s:
        job = s.get(GraduateImportJob, job_id)
        assert (job.created_rows, job.error_rows, job.processed_rows) == (1200, 1, 1201)
    assert graduates(runtime) == 1200
