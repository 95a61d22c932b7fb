"""去向登记确认 in a real headless Chromium on a phone-sized screen, CSRF on: the graduate opens it from
去向填报, picks 信息有误 (the report fields appear), is told what is missing, reports the archive info wrong,
revokes the report (实际信息无误，撤销确认) and confirms.

Reuses the live server, Chromium, Recorder and login of tests/test_browser.py; screenshots go to
$GRADFLOW_TEST_OUTPUT/browser-confirmation (default test-output/browser-confirmation).
"""
from __future__ import annotations

import re

import pytest

from tests.processes.test_confirmation import file_and_approve, row_of, with_info
from tests.test_browser import (  # noqa: F401 (fixtures)
    PHONE,
    Recorder,
    browser,
    live_server,
    login,
    output_dir,
)

pytestmark = [pytest.mark.browser, pytest.mark.service]


def test_graduate_reports_an_error_revokes_it_and_confirms_on_a_phone(live_server, browser, app, runtime, world,  # noqa: F811
                                                                      make_graduate, step):
    # rules CNF-2, CNF-3, CNF-4
    from playwright.sync_api import expect

    grad = make_graduate("g1", name="李娟")
    file_and_approve(app.test_client(), "g1")
    with_info(step, grad.id, "archive", "hukou")
    rec = Recorder(output_dir("browser-confirmation"))
    context = browser.new_context(**PHONE)
    page = rec.watch(context.new_page(), "g1")
    login(page, live_server, "g1", rec, "g1")

    page.goto(live_server + "/graduate/destination")
    expect(page.locator("#confirmation-home")).to_contain_text("未确认")
    rec.shot(page, "destination_home")
    page.click("#confirmation-link")
    expect(page).to_have_url(re.compile(r"/graduate/confirmation$"))
    expect(page.locator("#info-destination")).to_contain_text("求职中")
    expect(page.locator("#info-archive")).to_contain_text("北京市海淀区人力资源公共服务中心")
    expect(page.locator("#report-fields")).to_be_hidden()  # only 信息有误 opens them
    rec.shot(page, "confirmation")

    page.check("#choice-error")
    expect(page.locator("#report-fields")).to_be_visible()
    page.check("#part-archive")
    page.click("#submit-confirmation")
    expect(page.locator("#form-error")).to_have_text("档案情况说明：请填写情况说明")
    expect(page.locator("#report-fields")).to_be_visible()  # still open, with what was ticked
    expect(page.locator("#part-archive")).to_be_checked()
    rec.shot(page, "report_incomplete")
    page.fill("#archive_explanation", "档案转递单位名称有误，应为北京市海淀区人才服务中心")
    page.click("#submit-confirmation")
    expect(page.locator("#error-report")).to_contain_text("档案转递单位名称有误")
    expect(page.locator("#confirmation-status")).to_have_text("信息有误，待更新后确认")
    rec.shot(page, "error_reported")
    assert row_of(runtime, grad.id)[0] == "error_reported"

    page.click("#revoke")
    expect(page.locator(".flash")).to_contain_text("已撤销")
    page.check("#choice-confirm")
    rec.shot(page, "revoked")
    page.click("#submit-confirmation")
    expect(page.locator(".flash")).to_contain_text("已确认登记去向")
    expect(page.locator("#confirmation-status")).to_have_text("已确认")
    rec.shot(page, "confirmed")
    context.close()

    assert row_of(runtime, grad.id)[0] == "confirmed"
    problems = [p for p in rec.problems if "422" not in p]  # the incomplete report, on purpose
    assert not problems, "\n".join(problems)
    assert not [line for line in rec.overflow if "confirmation" in line], rec.overflow
