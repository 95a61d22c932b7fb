"""A real browser (Chromium, the page's CSP on): an admin opens an instance page and the BPMN diagrams, drawn by
bpmn-js from the app's own /vendor files, show the instance's marks; the process dashboard draws its counts with
the same static/diagram.js. Screenshots: test-output/admin/ (desktop and 390 px phone)."""
from __future__ import annotations

import pytest

from tests.test_admin_inspector import answer, invite, review
from tests.test_browser import browser, live_server  # noqa: F401 - fixtures of the browser test

pytestmark = pytest.mark.browser


def test_an_admin_sees_the_marks_on_the_instance_diagram(live_server, browser, runtime, world,  # noqa: F811
                                                          make_graduate, make_employer, step, actor):
    # rules ONL-2, ONL-6
    from playwright.sync_api import expect

    from tests.test_browser import DESKTOP, PHONE, Recorder, login, output_dir

    base = live_server
    make_employer("hr")
    inst = invite(runtime, step, actor, make_graduate("g1", name="林晓"))
    answer(runtime, step, actor, "g1", inst.id)  # waits in 院系审核 of the shared review
    other = invite(runtime, step, actor, make_graduate("g2", name="王芳"))
    answer(runtime, step, actor, "g2", other.id)
    review(runtime, step, actor, "dept_info", other.id)
    rec = Recorder(output_dir("admin"))
    for name, size in (("desktop", DESKTOP), ("phone", PHONE)):
        context = browser.new_context(**size)
        page = rec.watch(context.new_page(), f"diagram-{name}")
        login(page, base, "admin", rec, f"diagram_{name}")
        page.goto(base + f"/admin/instances/{inst.id}")
        top = page.locator('#diagram-online_signing .bpmn-diagram')
        sub = page.locator('#diagram-review .bpmn-diagram')
        expect(top).to_have_attribute("data-ready", "true")
        expect(sub).to_have_attribute("data-ready", "true")
        # completed, active and waiting (cancelled here: the answer came before the deadline) elements
        expect(top.locator('[data-element-id="invite"].gf-completed')).to_have_count(1)
        expect(top.locator('[data-element-id="review_call"].gf-active')).to_have_count(1)
        expect(top.locator('[data-element-id="answer_deadline_timer"].gf-cancelled')).to_have_count(1)
        expect(top.locator('[data-element-id="sign"][class*="gf-"]')).to_have_count(0)  # not reached
        expect(sub.locator('[data-element-id="department_review"].gf-active')).to_have_count(1)
        expect(sub.locator('[data-element-id="school_review"][class*="gf-"]')).to_have_count(0)
        badge = sub.locator('[data-container-id="department_review"] .gf-badge-active')
        expect(badge).to_have_text("●1")
        page.locator("#diagram").scroll_into_view_if_needed()
        rec.shot(page, f"{name}_instance_diagram")
        top.locator('[data-element-id="review_call"]').click()  # the drill-down to the called process
        page.wait_for_url("**#diagram-review")
        if name == "desktop":  # the process dashboard draws its counts with the same diagram.js
            page.goto(base + "/admin/processes")
            page.click(f'tr[data-version="{inst.version_id}"] a[href$="/versions/{inst.version_id}"]')
            sub = page.locator('#diagram-review .bpmn-diagram')
            expect(sub).to_have_attribute("data-ready", "true")
            expect(sub.locator('[data-container-id="department_review"] .gf-badge-active')).to_have_text("●1")
            expect(sub.locator('[data-container-id="school_review"] .gf-badge-active')).to_have_text("●1")
            expect(sub.locator('[data-container-id="department_review"] .gf-badge-completed')).to_have_text("✓1")
            top = page.locator('#diagram-online_signing .bpmn-diagram')
            expect(top.locator('[data-container-id="review_call"] .gf-badge-active')).to_have_text("●2")
            page.locator("#diagram").scroll_into_view_if_needed()
            rec.shot(page, "desktop_dashboard")
        context.close()
    assert not rec.problems, "\n".join(rec.problems)
    assert not rec.overflow, "\n".join(rec.overflow)
