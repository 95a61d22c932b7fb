"""Module setup in headless Chromium (MOD-2, MOD-4, ROLE-2): the province enables 档案信息登记, the school completes
its settings, and only then the graduate opens the module; before that the graduate's card says who must act.
Screenshots, desktop and phone (390px): test-output/browser-module-setup/."""
from __future__ import annotations

import re

import pytest

from tests.test_browser import DESKTOP, PHONE, Recorder, browser, live_server, login, output_dir  # noqa: F401

pytestmark = [pytest.mark.browser, pytest.mark.service]


def test_province_enables_archive_school_sets_it_up_graduate_opens_it(live_server, browser, world,  # noqa: F811
                                                                      make_graduate, runtime):
    # rules MOD-2, MOD-4, ROLE-2
    from playwright.sync_api import expect

    from domain.models import Province, School
    from domain.seed import make_account

    base = live_server
    make_graduate("g1", name="陈诚")
    with runtime.Session() as s:  # the province has enabled only the destination module so far
        s.get(Province, world.province.id).enabled_modules = ["destination"]
        s.get(School, world.school.id).open_modules = ["destination"]
        make_account(s, "province", "province", "福建省教育厅", province_id=world.province.id)
        s.commit()
    rec = Recorder(output_dir("browser-module-setup"))

    # 1. the graduate, on a phone: the archive card is closed and says the province must act
    gctx = browser.new_context(**PHONE)
    grad = rec.watch(gctx.new_page(), "g1")
    login(grad, base, "g1", rec, "g1")
    grad.goto(base + "/graduate")
    expect(grad.locator("#module-archive")).to_contain_text("省级主管部门尚未开通")
    rec.shot(grad, "g1_phone_archive_closed_by_province")

    # 2. the province, on a desktop: 首页 → 功能设置 → 开启 档案信息登记 (one way)
    pctx = browser.new_context(**DESKTOP)
    prov = rec.watch(pctx.new_page(), "province")
    login(prov, base, "province", rec, "province")
    expect(prov.locator("#welcome")).to_contain_text("欢迎使用本系统")
    rec.shot(prov, "province_desktop_home")
    prov.click("#home-settings")
    expect(prov).to_have_url(re.compile(r"/province/settings$"))
    expect(prov.locator("#one-way-note")).to_contain_text("一旦开启，不可再关闭")
    rec.shot(prov, "province_desktop_settings")
    prov.click("#submit-enable-archive")
    expect(prov.locator(".flash")).to_contain_text("已开启“档案信息登记”模块")
    expect(prov.locator("#state-archive")).to_have_text("已开启")
    expect(prov.locator("#enable-archive")).to_have_count(0)  # nothing to switch it off
    rec.shot(prov, "province_desktop_archive_enabled")
    prov.click("#nav-province-accounts")
    expect(prov.locator("#accounts")).to_contain_text("school")
    rec.shot(prov, "province_desktop_accounts")
    pctx.close()
    pphone = browser.new_context(**PHONE)
    prov = rec.watch(pphone.new_page(), "province-phone")
    login(prov, base, "province", rec, "province_phone")
    rec.shot(prov, "province_phone_home")
    prov.goto(base + "/province/settings")
    rec.shot(prov, "province_phone_settings")
    prov.goto(base + "/province/accounts")
    rec.shot(prov, "province_phone_accounts")
    pphone.close()

    # 3. the graduate again: now the school must act
    grad.goto(base + "/graduate")
    expect(grad.locator("#module-archive")).to_contain_text("学校就业部门")
    rec.shot(grad, "g1_phone_archive_closed_by_school")

    # 4. the school (read-write on 档案信息) completes the settings on its 功能设置 page, on a phone
    sctx = browser.new_context(**PHONE)
    school = rec.watch(sctx.new_page(), "school")
    login(school, base, "school", rec, "school_phone")
    school.goto(base + "/school/settings")
    expect(school.locator("#school-state-archive")).to_contain_text("待学校完成设置")
    rec.shot(school, "school_phone_settings")
    school.select_option("#review_levels-archive", "department_school")
    school.click("#submit-open-archive")
    expect(school.locator(".flash")).to_contain_text("已完成设置")
    expect(school.locator("#school-state-archive")).to_have_text("已完成设置")
    rec.shot(school, "school_phone_archive_open")
    sctx.close()
    sdesk = browser.new_context(**DESKTOP)
    school = rec.watch(sdesk.new_page(), "school-desktop")
    login(school, base, "school", rec, "school_desktop")
    school.click("#nav-school-settings")
    rec.shot(school, "school_desktop_settings")
    school.click("#nav-school-archive")
    expect(school).to_have_url(re.compile(r"/school/archive$"))
    rec.shot(school, "school_desktop_archive_list")
    school.click("#nav-school-accounts")
    expect(school.locator("#accounts")).to_contain_text("dept_info")
    rec.shot(school, "school_desktop_department_accounts")
    sdesk.close()

    # 5. the graduate opens 档案信息登记
    grad.goto(base + "/graduate")
    grad.click("#module-archive")
    expect(grad).to_have_url(re.compile(r"/graduate/archive$"))
    expect(grad.locator("#archive-register")).to_be_visible()
    rec.shot(grad, "g1_phone_archive_open")
    gctx.close()
    assert not rec.problems, "\n".join(rec.problems)
    assert not rec.overflow, "\n".join(rec.overflow)
