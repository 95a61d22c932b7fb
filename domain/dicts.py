"""Dictionaries of SPEC §8 (DICT-1, DICT-2), loaded once from ``domain/data/*.json``.

The files are data (see ``domain/data/README.md`` for their sources); this
module only reads and indexes them. Returned objects are shared between
callers: treat them as read-only.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

DATA_DIR = Path(__file__).resolve().parent / "data"


@cache
def _load(name: str) -> Any:
    with (DATA_DIR / name).open(encoding="utf-8") as f:
        return json.load(f)


# --- DICT-1 destination types ---------------------------------------------

def destination_fields() -> dict[str, dict]:
    """Form field name -> {"label", "max_length"} for destination forms."""
    return _load("destination_types.json")["fields"]


def destination_categories() -> list[dict]:
    return _load("destination_types.json")["categories"]


def destination_types() -> list[dict]:
    return _load("destination_types.json")["types"]


@cache
def _types_by_code() -> dict[str, dict]:
    return {t["code"]: t for t in destination_types()}


def destination_type(code: str) -> dict | None:
    return _types_by_code().get(code)


def destination_category(code: str) -> dict | None:
    return next((c for c in destination_categories() if c["code"] == code), None)


def types_in_category(code: str) -> list[dict]:
    return [t for t in destination_types() if t["category"] == code]


# --- DICT-2 administrative divisions (GB/T 2260) --------------------------

@cache
def _division_index() -> tuple[dict[str, dict], dict[str, str | None]]:
    nodes: dict[str, dict] = {}
    parents: dict[str, str | None] = {}

    def walk(node: dict, parent: str | None) -> None:
        nodes[node["code"]] = node
        parents[node["code"]] = parent
        for child in node.get("children", ()):
            walk(child, node["code"])

    for province in _load("divisions.json")["provinces"]:
        walk(province, None)
    return nodes, parents


def _brief(node: dict) -> dict:
    return {"code": node["code"], "name": node["name"]}


def provinces() -> list[dict]:
    """[{"code", "name"}] of the provincial-level divisions, in code order."""
    return [_brief(p) for p in _load("divisions.json")["provinces"]]


def children(code: str) -> list[dict]:
    """[{"code", "name"}] directly under ``code``; [] for a leaf or an unknown code."""
    node = _division_index()[0].get(str(code))
    return [_brief(c) for c in node.get("children", ())] if node else []


def division_name(code: str) -> str | None:
    """Name of one division (``"110108"`` -> ``"海淀区"``), None if unknown."""
    node = _division_index()[0].get(str(code))
    return node["name"] if node else None


def division_path(code: str) -> list[dict]:
    """Province-first chain down to ``code``: [{"code", "name"}, ...]; [] if unknown."""
    nodes, parents = _division_index()
    chain: list[dict] = []
    cur: str | None = str(code)
    while cur is not None and cur in nodes:
        chain.append(_brief(nodes[cur]))
        cur = parents[cur]
    return chain[::-1]


def division_full_name(code: str) -> str | None:
    """Names joined province-first (``"110108"`` -> ``"北京市海淀区"``), None if unknown."""
    path = division_path(code)
    return "".join(p["name"] for p in path) or None


# --- DICT-2 simple code lists ----------------------------------------------

def unit_natures() -> list[dict]:
    return _load("unit_natures.json")


def industries() -> list[dict]:
    return _load("industries.json")


def job_categories() -> list[dict]:
    return _load("job_categories.json")


def termination_reasons() -> list[dict]:
    return _load("termination_reasons.json")


def name_of(items: list[dict], code: str) -> str | None:
    """Look a code up in one of the simple lists above."""
    return next((i["name"] for i in items if i["code"] == code), None)
