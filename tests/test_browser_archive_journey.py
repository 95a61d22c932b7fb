"""The rest of the graduate's journey in headless Chromium (issue 8): archive 托管单位接收 with proof on a
phone → both reviewers approve → the graduate confirms (去向登记确认) → authorises an archive report →
the receiving office opens it on the public check page. Screenshots: test-output/browser_journey/."""
from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest

from tests.conftest import png_bytes, with_proof
from tests.test_browser import DESKTOP, PHONE, Recorder, browser, live_server, login, output_dir  # noqa: F401

pytestmark = [pytest.mark.browser, pytest.mark.service]
UNIT = "厦门市人才服务中心"


def test_archive_registration_confirmation_and_a_public_check(live_server, browser, world,  # noqa: F811
                                                              make_graduate, step, actor, runtime, tmp_path,
                                                              monkeypatch):
    # rules ARC-1, ARC-2, ARC-4, ARC-5, CNF-1, CNF-2, VER-1, VER-2, VER-4
    from playwright.sync_api import expect

    from domain.models import Graduate
    from processes.destination import services as filing
    from processes.review import services as reviews
    from processes.verification import services as verification
    from tests.conftest import open_items

    monkeypatch.setattr(verification, "now", lambda: datetime(2026, 6, 10, 2, 0, tzinfo=UTC))
    base = live_server
    grad = make_graduate("g1", name="陈诚")
    g = actor("g1")
    with runtime.Session() as s:  # the province enabled the archive module and the school set it up (MOD-2/4)
        school = s.get(type(world.school), world.school.id)
        school.province.enabled_modules = sorted({*school.province.enabled_modules, "archive"})
        school.open_modules = sorted({*school.open_modules, "archive"})
        s.commit()
    # an effective destination first (CNF-1), filed and approved through the services
    inst = step(lambda s: filing.start_filing(s, runtime.runner, g, s.get(Graduate, grad.id),
                                              with_proof(s, grad.id)))
    for who, role in (("dept_info", "Department"), ("school", "School")):
        a, item = actor(who), open_items(runtime, inst.id, role)[0]
        step(lambda s, a=a, item=item: reviews.review(s, runtime.runner, a, item.id, "approve", ""))
    rec = Recorder(output_dir("browser_journey"))
    proof = tmp_path / "letter.png"
    proof.write_bytes(png_bytes(size=(320, 240)))

    # 1. the graduate registers the archive transfer on a phone, with the 调档函 as proof (ARC-4)
    ctx = browser.new_context(**PHONE)
    page = rec.watch(ctx.new_page(), "g1")
    login(page, base, "g1", rec, "g1")
    page.goto(base + "/graduate/archive")
    rec.shot(page, "g1_archive_home")
    page.click("#archive-register")
    page.select_option("#archive_type", "托管单位接收")
    page.fill("#archive_unit", UNIT)
    page.fill("#division_code", "350203")
    page.fill("#archive_address", "湖滨北路1号")
    page.fill("#archive_postcode", "361000")
    page.fill("#archive_contact", "王老师")
    page.fill("#archive_phone", "0592-5555555")
    page.set_input_files("#images", str(proof))
    rec.shot(page, "g1_archive_form")
    page.click("#submit-archive")
    expect(page).to_have_url(re.compile(r"/graduate/records/\d+$"))
    expect(page.locator("#status-label")).to_have_text("等待院系审核")
    rec.shot(page, "g1_archive_submitted")

    # 2. the department and the school approve it (ARC-5)
    for who in ("dept_info", "school"):
        rctx = browser.new_context(**DESKTOP)
        rp = rec.watch(rctx.new_page(), who)
        login(rp, base, who, rec, who)
        row = rp.locator("#inbox tr", has_text=grad.student_no)
        expect(row).to_have_count(1)
        row.get_by_role("link", name="审核").click()
        expect(rp.locator("#application")).to_contain_text(UNIT)
        rp.check("#decision-approve")
        rec.shot(rp, f"{who}_archive_review")
        rp.click("#submit-review")
        expect(rp.locator(".flash")).to_contain_text("审核结果已提交")
        rctx.close()
    page.goto(base + "/graduate/archive")
    expect(page.locator("#archive-info")).to_contain_text(UNIT)
    rec.shot(page, "g1_archive_registered")

    # 3. 去向登记确认: destination and archive shown, 信息无误，确认登记去向 (CNF-2)
    page.goto(base + "/graduate/confirmation")
    expect(page.locator("#confirmation-page")).to_contain_text(UNIT)
    page.check("#choice-confirm")
    rec.shot(page, "g1_confirmation")
    page.click("#submit-confirmation")
    expect(page.locator("#confirmation-status")).to_contain_text("已确认")
    rec.shot(page, "g1_confirmed")

    # 4. 核验授权: a validity date gives a 15-character code (VER-2)
    page.goto(base + "/graduate/verification")
    page.fill("#valid_until-archive", "2026-12-31")
    page.click("#create-archive button[type=submit]")
    expect(page.locator("#state-archive")).to_have_text("生效中")
    code = page.locator("#code-archive").inner_text().strip()
    assert len(code) == 15
    rec.shot(page, "g1_authorised")
    ctx.close()

    # 5. the receiving office, not logged in, opens the report with name + code (VER-4)
    pctx = browser.new_context(**PHONE)
    public = rec.watch(pctx.new_page(), "public")
    public.goto(base + "/verify")
    public.fill("#name", "陈诚")
    public.fill("#code", code)
    rec.shot(public, "public_check")
    public.click("#verify-submit")
    expect(public.locator("#section-archive")).to_contain_text(UNIT)
    rec.shot(public, "public_report")
    pctx.close()
    assert not rec.problems, "\n".join(rec.problems)
    assert not rec.overflow, "\n".join(rec.overflow)
