"""End to end in headless Chromium (issue 7): a 定向 graduate files the only destination open to them on a
phone, the unit coming from the school's record; the department reviewer edits the filing while reviewing,
and the graduate sees what changed, before and after. Screenshots go to test-output/browser_directed/."""
from __future__ import annotations

import re

import pytest

from tests.conftest import png_bytes
from tests.test_browser import DESKTOP, PHONE, Recorder, browser, live_server, login, output_dir  # noqa: F401

pytestmark = [pytest.mark.browser, pytest.mark.service]
UNIT = "福建省漳州市教育局"
ADDRESS = "福建省漳州市芗城区胜利西路1号"


def test_directed_filing_on_a_phone_and_a_reviewers_edit(live_server, browser, world, make_graduate,  # noqa: F811
                                                         tmp_path):
    # rules GRAD-6, DST-5, DST-1, REV-5, NOTE-3
    from playwright.sync_api import expect

    base = live_server
    grad = make_graduate("d1", training_mode="定向", directed_unit=UNIT, directed_unit_address=ADDRESS)
    rec = Recorder(output_dir("browser_directed"))
    proof = tmp_path / "proof.png"
    proof.write_bytes(png_bytes(size=(320, 240)))

    # 1. the 定向 graduate on a phone sees only the directed type, with the school's unit read-only
    ctx = browser.new_context(**PHONE)
    page = rec.watch(ctx.new_page(), "d1")
    login(page, base, "d1", rec, "d1")
    page.goto(base + "/graduate/destination")
    expect(page.locator("a[data-type]")).to_have_count(1)
    expect(page.locator("a[data-type=directed]")).to_have_text("定向/委培毕业去向补充登记")
    rec.shot(page, "d1_destination_home")
    page.click("a[data-type=directed]")
    expect(page.locator("#unit_name")).to_have_value(UNIT)
    expect(page.locator("#unit_address")).to_have_value(ADDRESS)
    expect(page.locator("#unit_address")).to_have_attribute("readonly", "")
    page.fill("textarea[name=note]", "按定向协议回生源地就业")
    page.set_input_files("input[name=images]", str(proof))
    rec.shot(page, "d1_directed_form")
    page.click("#submit-destination")
    expect(page).to_have_url(re.compile(r"/graduate/records/\d+$"))
    expect(page.locator("#status-label")).to_have_text("等待院系审核")
    expect(page.locator("#record-fields")).to_contain_text(ADDRESS)
    rec.shot(page, "d1_record_submitted")
    record_url = page.url

    # 2. the department reviewer corrects the note while approving, without any extra checkbox
    dctx = browser.new_context(**DESKTOP)
    dept = rec.watch(dctx.new_page(), "dept_info")
    login(dept, base, "dept_info", rec, "dept_info")
    dept.locator("#inbox tr", has_text=grad.student_no).get_by_role("link", name="审核").click()
    expect(dept.locator("#application")).to_contain_text(UNIT)
    dept.click("#edit-block summary")
    dept.fill("#edit-note", "按定向协议到漳州市教育局就业")
    rec.shot(dept, "dept_review_edit")
    dept.check("#decision-approve")
    dept.click("#submit-review")
    expect(dept.locator(".flash")).to_contain_text("审核结果已提交")
    rec.shot(dept, "dept_inbox_done")
    dctx.close()

    # 3. the graduate sees the change, before and after, on the record and in the message centre
    page.goto(record_url)
    expect(page.locator("#record-fields")).to_contain_text("按定向协议到漳州市教育局就业")
    expect(page.locator("#history .changes")).to_contain_text("按定向协议回生源地就业")
    rec.shot(page, "d1_record_edited")
    page.click("#nav-messages")
    expect(page.locator("#messages")).to_contain_text("备注：按定向协议回生源地就业 → 按定向协议到漳州市教育局就业")
    rec.shot(page, "d1_messages")
    ctx.close()
    assert not rec.problems, "\n".join(rec.problems)
    assert not rec.overflow, "\n".join(rec.overflow)
