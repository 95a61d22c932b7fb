"""Every status label a process can show has an English translation."""
from __future__ import annotations

from pathlib import Path

from babel.messages.pofile import read_po

ROOT = Path(__file__).resolve().parent.parent


def bpmn_labels() -> set[str]:
    """The catalogue as the module registry gives it: every status label of every module's BPMN."""
    from domain.modules import ModuleRegistry
    from processes import modules

    labels = set()
    for value in ModuleRegistry(modules()).status_labels():
        if "{decided_level_label}" in value:
            labels |= {value.replace("{decided_level_label}", level) for level in ("院系", "学校")}
        else:
            labels.add(value)
    assert len(labels) > 20, labels  # the catalogue really was read
    return labels


def test_every_bpmn_status_label_is_translated():
    # rule GRAD-3
    with open(ROOT / "webapp/translations/en/LC_MESSAGES/messages.po", "rb") as fh:
        catalog = read_po(fh)
    translated = {m.id for m in catalog if m.id and m.string and not m.fuzzy}
    missing = bpmn_labels() - translated
    assert not missing, sorted(missing)
