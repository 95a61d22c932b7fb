"""PRV-1 exports: a view's rows as .xlsx in constant memory.

openpyxl's write-only workbook spools each row to a temporary XML file as it is appended, and the database rows
come in batches (a server-side cursor on PostgreSQL), so neither side holds the rows; the finished workbook is a
temporary file streamed back in 64 KiB chunks and removed when the response ends."""
from __future__ import annotations

import os
import tempfile
from collections.abc import Iterable, Iterator
from typing import Any

from openpyxl import Workbook  # type: ignore[import-untyped]
from openpyxl.cell import WriteOnlyCell  # type: ignore[import-untyped]
from openpyxl.styles import Font  # type: ignore[import-untyped]

from .views import DataView

CHUNK = 64 * 1024
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def write_xlsx(view: DataView, rows: Iterable[dict[str, Any]], headers: list[str]) -> tuple[str, int]:
    """Write the rows to a temporary .xlsx; returns its path and the number of data rows."""
    wb = Workbook(write_only=True)
    ws = wb.create_sheet(view.title[:31])
    bold = Font(bold=True)
    head = []
    for title in headers:
        cell = WriteOnlyCell(ws, value=title)
        cell.font = bold
        head.append(cell)
    ws.append(head)
    keys = [c.key for c in view.columns]
    n = 0
    for row in rows:
        ws.append([_cell(row.get(k)) for k in keys])
        n += 1
    fd, path = tempfile.mkstemp(prefix="gradflow-export-", suffix=".xlsx")
    os.close(fd)
    try:
        wb.save(path)
    except BaseException:
        os.unlink(path)
        raise
    return path, n


def _cell(value: Any) -> Any:
    return "" if value is None else value


def file_chunks(path: str) -> Iterator[bytes]:
    """The file's bytes, then the file is gone (also when the client goes away mid-download)."""
    try:
        with open(path, "rb") as f:
            while chunk := f.read(CHUNK):
                yield chunk
    finally:
        try:
            os.unlink(path)
        except FileNotFoundError:
            pass
