"""GRAD-1 / GRAD-4 in a real Chromium (CSRF on): the school uploads a file and sees the finished progress bar and
the error report link, lists and edits graduates; a graduate switches to an earlier cohort. Desktop and phone
screenshots go to test-output/roster/."""
from __future__ import annotations

import pytest

from tests.roster_helpers import good_row, xlsx_bytes
from tests.test_browser import DESKTOP, PHONE, browser, live_server, login, output_dir  # noqa: F401


class Shots:
    def __init__(self, out, prefix):
        self.out, self.prefix, self.n = out, prefix, 0

    def shot(self, page, name):
        self.n += 1
        page.screenshot(path=str(self.out / f"{self.n:02d}_{self.prefix}_{name}.png"), full_page=True)


@pytest.mark.browser
@pytest.mark.parametrize("device", ["desktop", "phone"])
def test_school_imports_lists_and_edits_and_graduate_switches_cohort(runtime, world, make_graduate, live_server,  # noqa: F811
                                                                      browser, tmp_path, device):  # noqa: F811
    # rules GRAD-1, GRAD-4
    from playwright.sync_api import expect

    from domain import seed
    from domain.models import School

    old = make_graduate("g1", cohort=2025, enrolled_on="202109", graduates_on="202506")
    with runtime.Session() as s:
        seed.make_graduate(s, s.get(School, world.school.id), world.info, cohort=2026, id_number=old.id_number,
                           name=old.name)
        s.commit()
    out = output_dir(f"roster/{device}")
    rec = Shots(out, device)
    context = browser.new_context(**(DESKTOP if device == "desktop" else PHONE))
    page = context.new_page()
    base = live_server
    login(page, base, "school", rec, "school")
    page.click("#nav-roster")
    expect(page.locator("#roster")).to_be_visible()
    page.click("#import-graduates")
    path = tmp_path / "graduates.xlsx"
    path.write_bytes(xlsx_bytes([good_row(n) for n in range(1, 8)] + [good_row(50, 性别="X"), good_row(51, 院系="火星学院")]))
    page.set_input_files("#file", str(path))
    rec.shot(page, "upload")
    page.click("#upload-submit")
    expect(page.locator("#job-status")).to_have_text("已完成", timeout=15_000)
    expect(page.locator("#n-created")).to_have_text("7")
    expect(page.locator("#error-report")).to_be_visible()
    rec.shot(page, "job_done")
    page.goto(base + "/school/graduates")
    expect(page.locator("#roster tr[id^=graduate-]")).to_have_count(8)
    rec.shot(page, "list")
    page.locator("a[id^=edit-]").first.click()
    expect(page.locator("#graduate-form")).to_be_visible()
    page.fill("#phone", "123")
    page.click("#save-graduate")
    expect(page.locator("#error-phone")).to_be_visible()
    rec.shot(page, "edit_error")
    context.close()

    context = browser.new_context(**(DESKTOP if device == "desktop" else PHONE))
    page = context.new_page()
    login(page, base, "g1", rec, "g1")
    page.goto(base + "/graduate/cohorts")
    rec.shot(page, "cohorts")
    page.click("#switch-2025")
    expect(page.locator("#read-only-banner")).to_be_visible()
    expect(page.locator("#nav-cohort")).to_contain_text("只读")
    rec.shot(page, "earlier_cohort")
    page.click("#back-to-current")
    expect(page.locator("#nav-cohort")).not_to_contain_text("只读")
    context.close()
