"""身份证号 masking for lists, exports and logs (issue 12 must-hold 6, PRV-1): the first and last four
characters stay, the rest becomes `*`. `mask_id` masks one value; `mask_id_numbers` every well-formed
18-character 身份证号 inside a text (a log line, an error message); `install_log_masking` makes every Python
log record of the process pass through `mask_id_numbers` before any handler sees it."""
from __future__ import annotations

import logging
import re
from typing import Any

# GB 11643: 6-digit area, birth date YYYYMMDD, 3-digit sequence, check character; not inside a longer number
ID_NUMBER = re.compile(r"(?<![0-9A-Za-z])\d{6}(?:19|20)\d{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01])\d{3}[\dXx]"
                       r"(?![0-9A-Za-z])")


def mask_id(value: str | None) -> str:
    if not value or len(value) < 8:
        return value or ""
    return value[:4] + "*" * (len(value) - 8) + value[-4:]


def mask_id_numbers(text: str) -> str:
    return ID_NUMBER.sub(lambda m: mask_id(m.group(0)), text) if text else text


_installed = False


def install_log_masking() -> None:
    """Wrap the log record factory once: a record's message (with its arguments) and its traceback are masked
    when the record is made, so no handler, formatter or test capture ever holds a full 身份证号."""
    global _installed
    if _installed:
        return
    make = logging.getLogRecordFactory()

    def masked(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = make(*args, **kwargs)
        try:
            message = record.getMessage()
        except Exception:  # noqa: BLE001 - a bad format string is logging's to report, not ours
            return record
        clean = mask_id_numbers(message)
        if clean != message:
            record.msg, record.args = clean, None
        if record.exc_info and record.exc_info[0] is not None:
            record.exc_text = mask_id_numbers(logging.Formatter().formatException(record.exc_info))
        return record

    logging.setLogRecordFactory(masked)
    _installed = True
