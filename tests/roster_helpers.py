"""Shared by the roster tests: good rows of the GRAD-1 template, files from rows, an import through the page."""
from __future__ import annotations

import csv
import io
import re
from datetime import date, timedelta

from stdnum.cn import ric

from processes.roster.rules import HEADERS


def id_number(seq: int, birth: str | None = None, area: str = "350203") -> str:
    born = birth or (date(2003, 1, 1) + timedelta(days=(seq // 1000) % 3000)).strftime("%Y%m%d")
    body = f"{area}{born}{seq % 1000:03d}"
    return body + ric.calc_check_digit(body + "0")


def good_row(n: int, **changes: str) -> dict[str, str]:
    """A valid row (by header) for the world fixture's 厦门大学 / 信息学院."""
    row = {
        "考生号": f"26350203{n:06d}", "姓名": f"学生{n}", "身份证号": id_number(500_000 + n), "毕业院校": "厦门大学",
        "学历": "本科", "性别": "女" if n % 2 else "男", "民族": "汉族", "政治面貌": "共青团员", "培养方式": "非定向",
        "生源所在地": "350203", "入学时间": "202209", "毕业时间": "202606", "学号": f"S{n:07d}", "院系": "信息学院",
        "专业": "软件工程", "学制": "4", "档案是否转入学校": "是", "户口是否转入学校": "否",
        "电子邮箱": f"s{n}@example.edu.cn", "手机号码": f"139{n:08d}", "届别": "2026", "定向单位": "", "定向单位地址": "",
    }
    row.update(changes)
    return row


def csv_bytes(rows: list[dict[str, str]], headers: tuple[str, ...] | list[str] = HEADERS,
              encoding: str = "utf-8-sig") -> bytes:
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(headers)
    for row in rows:
        writer.writerow([row.get(h, "") for h in headers])
    return buf.getvalue().encode(encoding)


def xlsx_bytes(rows: list[dict[str, str]], headers: tuple[str, ...] | list[str] = HEADERS) -> bytes:
    from openpyxl import Workbook

    wb = Workbook()
    ws = wb.active
    ws.append(list(headers))
    for row in rows:
        ws.append([row.get(h, "") for h in headers])
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def upload(client, data: bytes, filename: str):
    return client.post("/school/graduates/import", data={"file": (io.BytesIO(data), filename)},
                       content_type="multipart/form-data")


def job_id_of(resp) -> int:
    assert resp.status_code == 302, resp.get_data(as_text=True)[:800]
    return int(re.search(r"/import/(\d+)", resp.headers["Location"]).group(1))


def read_report(content: bytes) -> list[tuple]:
    from openpyxl import load_workbook

    wb = load_workbook(io.BytesIO(content), read_only=True)
    return [tuple(r) for r in wb.worksheets[0].iter_rows(values_only=True)][1:]
