"""The archive and hukou process modules are shaped like every other: their BPMN names a lane, a form key and a
status label for each user task, a declared handler for each service task, a label for each end; review is
approve or reject only; and the two packages share code only through domain and the library package
processes.transfers (design, issue 8)."""
from __future__ import annotations

import ast
from pathlib import Path

import pytest
from lxml import etree

ROOT = Path(__file__).resolve().parent.parent
NS = {"bpmn": "http://www.omg.org/spec/BPMN/20100524/MODEL",
      "spiffworkflow": "http://spiffworkflow.org/bpmn/schema/1.0/core"}
FILES = {"archive_registration.bpmn": "archive", "archive_change.bpmn": "archive",
         "hukou_registration.bpmn": "hukou", "hukou_change.bpmn": "hukou"}


def _props(el) -> dict[str, str]:
    return {p.get("name"): p.get("value") for p in el.iterfind(".//spiffworkflow:property", NS)}


@pytest.mark.parametrize("name", sorted(FILES))
def test_user_tasks_service_tasks_and_ends_carry_what_the_generic_parts_need(name):
    # rules ARC-5, ARC-6, HUK-1, REV-1
    from processes import archive, hukou

    package = FILES[name]
    module = {"archive": archive, "hukou": hukou}[package].module()
    root = etree.parse(str(ROOT / "processes" / package / name)).getroot()
    lane_of = {ref.text.strip(): lane.get("name") for lane in root.iter(f"{{{NS['bpmn']}}}lane")
               for ref in lane.findall("bpmn:flowNodeRef", NS)}
    user_tasks = root.findall(".//bpmn:userTask", NS)
    assert user_tasks
    for task in user_tasks:
        props = _props(task)
        assert lane_of[task.get("id")] == "Graduate", task.get("id")
        assert props.get("formKey") == package and props.get("statusLabel"), task.get("id")
        assert module.forms[0].form_key == package
    for task in root.findall(".//bpmn:serviceTask", NS):
        operator = task.find(".//spiffworkflow:serviceTaskOperator", NS).get("id")
        assert operator in module.handlers, operator
    for end in root.findall(".//bpmn:endEvent", NS):
        assert _props(end).get("statusLabel"), end.get("id")
    scripts = [s.text for s in root.iterfind(".//bpmn:script", NS)]
    assert "allow_return = False" in scripts  # approve / reject only (REV-1)
    call = root.find(".//bpmn:callActivity", NS)
    assert call.get("calledElement") == "review"
    messages = {b.find("bpmn:messageEventDefinition", NS).get("messageRef")
                for b in root.iterfind(".//bpmn:boundaryEvent", NS)}
    assert messages == {"withdraw", "basic_info_deleted"}  # REV-6, GRAD-5


def _processes_imports(package: str):
    for path in (ROOT / "processes" / package).glob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
            elif isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            yield from ((path, name) for name in names if name.startswith("processes"))


def _within(name: str, package: str) -> bool:
    return name == package or name.startswith(f"{package}.")


def test_archive_and_hukou_import_no_other_process_module():
    # design: process modules are independent; archive and hukou share code through domain.transfers and
    # processes.transfers, a library package that is no process module and imports neither of them
    for package in ("archive", "hukou"):
        for path, name in _processes_imports(package):
            assert _within(name, f"processes.{package}") or _within(name, "processes.transfers"), \
                f"{path.name} imports {name}"
    for path, name in _processes_imports("transfers"):
        assert _within(name, "processes.transfers"), f"transfers/{path.name} imports {name}"
    import processes.transfers

    assert not hasattr(processes.transfers, "module")
    assert "transfers" not in (ROOT / "processes" / "__init__.py").read_text(encoding="utf-8")


def test_registry_declares_both_modules_once(runtime):
    # rules MOD-1, ARC-5, HUK-1
    names = [m.name for m in runtime.modules.modules]
    assert names.count("archive") == 1 and names.count("hukou") == 1
    for process_id in ("archive_registration", "archive_change", "hukou_registration", "hukou_change"):
        assert runtime.modules.for_process(process_id) is not None
        assert runtime.modules.start(process_id) is not None
        assert runtime.modules.withdrawable(process_id)  # REV-6
    assert {"审核通过", "审核不通过（{decided_level_label}审核不通过）", "已撤回 待重新提交"} <= runtime.modules.status_labels()
