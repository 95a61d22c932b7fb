"""A real browser (issue 10): a designer opens a version in the modeler, changes a user task's status label in
our properties panel, validates, deploys; a new instance shows the new label while the running one keeps its
own. A broken edit is listed by element id and marked on the diagram. Screenshots: test-output/designer/
(the library on a desktop and on a phone, the version's diagram, the modeler, the diff).

The process is a test-only id (tests/test_designer.probe_bpmn), so the versions kept between tests
(conftest TABLES_KEEP) change nothing any other test starts."""
from __future__ import annotations

import pytest
from sqlalchemy import select

from engine.models import ProcessInstance, ProcessVersion
from tests.test_browser import (  # noqa: F401 (fixtures)
    DESKTOP,
    PHONE,
    Recorder,
    browser,
    live_server,
    login,
    output_dir,
)
from tests.test_designer import new_pid, probe_bpmn, start

pytestmark = [pytest.mark.browser, pytest.mark.service]

OLD, NEW = "等待毕业生确认", "请毕业生在三日内确认"


def test_designer_changes_a_status_label_validates_deploys_and_new_instances_show_it(
        runtime, world, live_server, browser, actor):  # noqa: F811
    from playwright.sync_api import expect

    from webapp.designer import library

    pid = new_pid()
    with runtime.Session() as s:  # v1, deployed the way the page deploys
        [v1] = library.store(runtime, s, f"{pid}.bpmn", probe_bpmn(pid, label=OLD))
        s.commit()
        v1_id = v1.id
    running = start(runtime, actor, pid)

    rec = Recorder(output_dir("designer"))
    context = browser.new_context(**DESKTOP)
    page = rec.watch(context.new_page(), "admin")
    login(page, live_server, "admin", rec, "admin")
    page.click("#nav-designer")
    expect(page.locator(f"#process-{pid}")).to_be_visible()
    rec.shot(page, "library_desktop")

    page.goto(f"{live_server}/designer/versions/{v1_id}")
    expect(page.locator("#diagram[data-ready=true]")).to_have_count(1)
    expect(page.locator("#diagram .djs-element[data-element-id=confirm]")).to_have_count(1)
    expect(page.locator(f"#instances tr[data-instance='{running}'] .status-label")).to_have_text(OLD)
    rec.shot(page, "version_diagram")

    page.click("#edit-link")
    expect(page.locator("#modeler-page[data-ready=true]")).to_have_count(1)
    # a broken edit first: the handler emptied → listed by element id and marked on the diagram
    page.locator(".djs-element[data-element-id=record]").first.click()
    expect(page.locator("#prop-handler")).to_have_value("test.outbox")
    page.fill("#prop-handler", "test.nowhere")
    page.locator("#prop-handler").dispatch_event("change")
    page.click("#btn-validate")
    expect(page.locator("#problems li[data-element=record]")).to_have_count(1)
    expect(page.locator(".djs-element.gf-problem[data-element-id=record]")).to_have_count(1)
    rec.shot(page, "modeler_problem")
    page.fill("#prop-handler", "test.outbox")
    page.locator("#prop-handler").dispatch_event("change")

    page.locator(".djs-element[data-element-id=confirm]").first.click()
    expect(page.locator("#props-id")).to_have_text("confirm")
    expect(page.locator("#prop-statusLabel")).to_have_value(OLD)
    page.fill("#prop-statusLabel", NEW)
    page.locator("#prop-statusLabel").dispatch_event("change")
    page.click("#btn-validate")
    expect(page.locator("#designer-result.ok")).to_be_visible()
    expect(page.locator("#problems li")).to_have_count(0)
    page.click("#btn-deploy")
    deployed = page.locator("#designer-result a.deployed-version")
    expect(deployed).to_have_count(1)
    rec.shot(page, "modeler_deployed")
    v2_id = int(deployed.get_attribute("data-version"))
    assert v2_id > v1_id

    new = start(runtime, actor, pid)
    with runtime.Session() as s:
        assert s.get(ProcessInstance, running).version_id == v1_id
        assert s.get(ProcessInstance, running).status_label == OLD  # keeps its version
        assert (s.get(ProcessInstance, new).version_id, s.get(ProcessInstance, new).status_label) == (v2_id, NEW)
        assert s.scalars(select(ProcessVersion.id).where(ProcessVersion.process_id == pid)).all() == [v1_id, v2_id]

    deployed.click()
    expect(page.locator(f"#instances tr[data-instance='{new}'] .status-label")).to_have_text(NEW)
    rec.shot(page, "new_version")
    page.goto(f"{live_server}/designer/diff?from={v1_id}&to={v2_id}")
    expect(page.locator("#diff-changed li[data-element=confirm]")).to_contain_text(f"statusLabel: {OLD} → {NEW}")
    expect(page.locator("#diagram-new[data-ready=true] .djs-element.gf-changed[data-element-id=confirm]")).to_have_count(1)
    rec.shot(page, "diff")
    signed_in = context.storage_state()
    context.close()

    phone = browser.new_context(**PHONE, storage_state=signed_in)  # the same admin session, no second login
    page = rec.watch(phone.new_page(), "admin-phone")
    page.goto(f"{live_server}/designer/")
    expect(page.locator(f"#version-{v2_id}")).to_be_visible()
    rec.shot(page, "library_phone")
    phone.close()
    assert rec.problems == [], rec.problems
    assert rec.overflow == [], rec.overflow
