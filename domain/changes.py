"""REV-5: what an edit changed, field by field, in the words of the form (for history, API and messages)."""
from __future__ import annotations

from typing import Any

HIDDEN = {"category", "attachment_ids", "stamped_ids"}  # codes and ids shown through their names elsewhere


def _flat(data: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in (data or {}).items():
        if isinstance(value, dict):
            out.update(_flat(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


def changes(before: dict[str, Any], after: dict[str, Any], labels: dict[str, str]) -> list[dict[str, Any]]:
    """What a reviewer changed, field by field, named as on the form; a coded value shows its name."""
    old, new = _flat(before), _flat(after)
    out = []
    for path in sorted(set(old) | set(new), key=lambda p: (list(labels).index(p.split(".")[-1])
                                                            if p.split(".")[-1] in labels else 999, p)):
        leaf = path.split(".")[-1]
        if leaf in HIDDEN or old.get(path) == new.get(path):
            continue
        if f"{path}_name" in old or f"{path}_name" in new:
            continue  # the *_name twin carries the readable value
        base = leaf[:-5] if leaf.endswith("_name") and leaf[:-5] else leaf
        if leaf == "type_name":
            base = "dest_type"
        if leaf == "dest_type" and ("type_name" in old or "type_name" in new):
            continue
        out.append({"field": path, "label": labels.get(base, labels.get(leaf, leaf)),
                    "before": "" if old.get(path) is None else str(old.get(path)),
                    "after": "" if new.get(path) is None else str(new.get(path))})
    return out
