"""The 数据统计 page in headless Chromium: the province's table and its ECharts charts (served from node_modules),
on a desktop and on a 390 px phone, and a data view. Screenshots: test-output/statistics/."""
from __future__ import annotations

import pytest

from tests.conftest import TERMS, open_items, with_proof
from tests.test_browser import DESKTOP, PHONE, Recorder, browser, live_server, login, output_dir  # noqa: F401

pytestmark = [pytest.mark.browser, pytest.mark.service]


def test_statistics_page_draws_its_charts_on_desktop_and_phone(live_server, browser, world, make_graduate,  # noqa: F811
                                                                make_employer, step, actor, runtime):
    # rules PRV-2, PRV-1
    from playwright.sync_api import expect

    from domain import seed
    from domain.models import Graduate
    from processes.agreements import services as signing
    from processes.destination import services as filing
    from processes.review import services as reviews

    with runtime.Session() as s:
        seed.make_account(s, "prov", "province", "福建省教育厅", province_id=world.province.id)
        other = seed.make_school(s, s.get(type(world.province), world.province.id), code="10386", name="福州大学")
        seed.make_graduate(s, other, seed.make_department(s, other, "机械学院"), name="福大甲")
        s.commit()
    for i in range(6):
        make_graduate(f"g{i}", department=world.econ if i % 2 else None, name=f"学生{i}")
    make_employer("hr")
    for i in range(3):  # three effective destinations: freelance, an agreement, one under review
        g = actor(f"g{i}")
        if i == 1:
            hr = actor("hr")
            inst = step(lambda s, g=g, hr=hr: signing.invite(s, runtime.runner, hr, g.graduate_id, TERMS, 7))
            step(lambda s, g=g, inst=inst: signing.answer_invitation(s, runtime.runner, g, inst.id, "accept"))
        else:
            inst = step(lambda s, g=g: filing.start_filing(s, runtime.runner, g, s.get(Graduate, g.graduate_id),
                                                           with_proof(s, g.graduate_id)))
        if i < 2:
            for who, role in (("dept_info" if i % 2 == 0 else "dept_econ", "Department"), ("school", "School")):
                a, item = actor(who), open_items(runtime, inst.id, role)[0]
                step(lambda s, a=a, item=item: reviews.review(s, runtime.runner, a, item.id, "approve", ""))

    rec = Recorder(output_dir("statistics"))
    for name, device in (("desktop", DESKTOP), ("phone", PHONE)):
        ctx = browser.new_context(**device)
        page = rec.watch(ctx.new_page(), f"prov_{name}")
        login(page, live_server, "prov", rec, f"prov_{name}")
        page.click("#nav-statistics")
        expect(page.locator("#stat-rows")).to_contain_text("厦门大学")
        expect(page.locator("#stat-total")).to_contain_text("7")
        expect(page.locator("html")).to_have_attribute("data-charts-ready", "2")
        expect(page.locator("#chart-bars canvas")).to_have_count(1)
        expect(page.locator("#chart-types canvas")).to_have_count(1)
        rec.shot(page, f"province_statistics_{name}")
        page.click("#nav-data-destination")
        expect(page.locator("#data-table")).to_contain_text("学生1")
        rec.shot(page, f"province_signing_{name}")
        ctx.close()
    ctx = browser.new_context(**DESKTOP)
    page = rec.watch(ctx.new_page(), "school")
    login(page, live_server, "school", rec, "school")
    page.goto(live_server + "/statistics")
    expect(page.locator("#stat-rows")).to_contain_text("经济学院")
    expect(page.locator("html")).to_have_attribute("data-charts-ready", "2")
    rec.shot(page, "school_statistics_desktop")
    ctx.close()
    assert not rec.problems, "\n".join(rec.problems)
    assert not rec.overflow, "\n".join(rec.overflow)
