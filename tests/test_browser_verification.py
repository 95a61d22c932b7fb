"""End to end in headless Chromium on a phone (issue 8): a confirmed graduate sets the validity date of the
archive report, gets its 核验编号 and opens the report; a receiving department checks it on the public page
with the graduate's name; the graduate closes it and the same look-up gets the neutral answer.
Screenshots go to test-output/browser_verification/."""
from __future__ import annotations

from datetime import UTC, datetime

import pytest

from core.db import utcnow
from domain.graduate_info import register_info
from domain.models import Confirmation
from tests.test_browser import PHONE, Recorder, browser, live_server, login, output_dir  # noqa: F401

pytestmark = [pytest.mark.browser, pytest.mark.service]
UNIT = "北京市海淀区人力资源公共服务中心"


def test_a_graduate_authorises_and_a_department_checks_on_a_phone(live_server, browser, world,  # noqa: F811
                                                                 make_graduate, step, monkeypatch):
    # rules VER-1, VER-2, VER-4, VER-5
    from playwright.sync_api import expect

    from processes.verification import services

    monkeypatch.setattr(services, "now", lambda: datetime(2026, 6, 10, 2, 0, tzinfo=UTC))
    base = live_server
    grad = make_graduate("g1", name="陈诚")

    def ready(s):
        register_info(s, grad.id, "archive", {"archive_type": "托管单位接收", "archive_unit": UNIT,
                                              "division_name": "北京市海淀区", "archive_postcode": "100195"}, "school")
        s.add(Confirmation(graduate_id=grad.id, status="confirmed", confirmed_at=utcnow(), error_parts={},
                           changed_parts=[]))

    step(ready)
    rec = Recorder(output_dir("browser_verification"))

    # 1. the graduate sets the validity date and gets the code
    ctx = browser.new_context(**PHONE)
    page = rec.watch(ctx.new_page(), "g1")
    login(page, base, "g1", rec, "g1")
    page.goto(base + "/graduate/verification")
    expect(page.locator("#state-archive")).to_have_text("未确认")
    page.fill("#valid_until-archive", "2026-12-31")
    rec.shot(page, "g1_set_validity")
    page.click("#create-archive button[type=submit]")
    expect(page.locator("#state-archive")).to_have_text("生效中")
    code = page.locator("#code-archive").inner_text().strip()
    assert len(code) == 15
    rec.shot(page, "g1_report_active")
    page.click("#view-archive")
    expect(page.locator("#section-archive")).to_contain_text(UNIT)
    rec.shot(page, "g1_report_page")

    # 2. the receiving department, not logged in, checks name + code
    pctx = browser.new_context(**PHONE)
    public = rec.watch(pctx.new_page(), "public")
    public.goto(base + "/verify")
    public.fill("#name", "陈诚")
    public.fill("#code", code)
    public.click("#verify-submit")
    expect(public.locator("#section-archive")).to_contain_text(UNIT)
    expect(public.locator("#verify-pdf")).to_be_visible()
    rec.shot(public, "public_report")

    # 3. the graduate closes the report; the same look-up now finds nothing
    page.goto(base + "/graduate/verification")
    page.once("dialog", lambda dialog: dialog.accept())
    page.click("#close-archive")
    expect(page.locator("#state-archive")).to_have_text("已关闭")
    rec.shot(page, "g1_report_closed")
    public.reload()
    expect(public.locator("#verify-none")).to_have_text(services.NONE_ANSWER)
    rec.shot(public, "public_none")
    ctx.close()
    pctx.close()
    assert not rec.problems, "\n".join(rec.problems)
    assert not rec.overflow, "\n".join(rec.overflow)
