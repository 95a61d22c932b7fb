"""A department reviewer bulk-approves 20 items in headless Chromium (desktop), sees one result per item, and
the same inbox on a 390 px phone is a list of labelled cards with 44 px tap targets.
Screenshots: test-output/review/."""
from __future__ import annotations

import pytest
from sqlalchemy import func, select

from tests.conftest import open_items, with_proof
from tests.test_browser import DESKTOP, PHONE, Recorder, browser, live_server, login, output_dir  # noqa: F401

pytestmark = [pytest.mark.browser, pytest.mark.service]
N = 20
TAP = 44


def _taps_too_small(page, selector: str) -> list[str]:
    """The visible elements matching `selector` whose box is under 44 px high (or wide)."""
    return page.evaluate("""([sel, min]) => [...document.querySelectorAll(sel)]
        .filter(e => e.offsetParent !== null)
        .map(e => [e, e.getBoundingClientRect()])
        .filter(([e, r]) => r.height < min - 0.5 || r.width < min - 0.5)
        .map(([e, r]) => `${e.tagName}.${e.className} '${e.textContent.trim().slice(0, 12)}' ${r.width}x${r.height}`)
    """, [selector, TAP])


def test_reviewer_bulk_approves_20_items_and_the_phone_shows_cards(live_server, browser, world,  # noqa: F811
                                                                   make_graduate, step, actor, runtime,
                                                                   monkeypatch):
    # rules REV-2, ROLE-1: each of the 20 is its own audited step; the result page lists every item
    from playwright.sync_api import expect

    from domain.models import Graduate
    from engine.models import AuditEvent, WorkItem
    from processes.destination import services as filing
    from processes.review import services as reviews

    instances = []
    for i in range(N + 2):  # two more than the bulk: they stay open
        make_graduate(f"g{i}", name=f"学生{i:02d}")
        g = actor(f"g{i}")
        instances.append(step(lambda s, g=g: filing.start_filing(s, runtime.runner, g, s.get(Graduate, g.graduate_id),
                                                                 with_proof(s, g.graduate_id))).id)
    rec = Recorder(output_dir("review"))
    desktop = browser.new_context(**DESKTOP)
    try:
        page = rec.watch(desktop.new_page(), "dept")
        login(page, live_server, "dept_info", rec, "dept")
        page.goto(live_server + "/review/inbox?sort=name")
        expect(page.locator("#inbox tbody tr[data-item]")).to_have_count(20)
        boxes = page.locator("#inbox input[name=item_ids]")
        for i in range(N):
            boxes.nth(i).check()
        rec.shot(page, "desktop_inbox_checked")
        page.click("#bulk-approve")
        expect(page.locator("#bulk-results")).to_be_visible()
        expect(page.locator("#bulk-results tr.ok")).to_have_count(N)
        expect(page.locator("#bulk-results tr.refused")).to_have_count(0)
        expect(page.locator("#bulk-summary")).to_contain_text("20")
        assert page.locator("#bulk-results tr.ok").first.inner_text().count("等待学校审核") == 1
        rec.shot(page, "desktop_bulk_results")
        page.click("#bulk-back")
        assert page.url.endswith("/review/inbox?sort=name")
        expect(page.locator("#inbox tbody tr[data-item]")).to_have_count(2)
        expect(page.locator("#count-completed b")).to_have_text(str(N))
    finally:
        desktop.close()
    with runtime.Session() as s:
        assert s.scalar(select(func.count()).select_from(AuditEvent).where(AuditEvent.decision == "approve")) == N
        assert s.scalar(select(func.count()).select_from(WorkItem).where(
            WorkItem.role == "School", WorkItem.state == "open")) == N
    assert len(open_items(runtime, instances[-1], "Department")) == 1

    phone = browser.new_context(**PHONE)
    try:
        page = rec.watch(phone.new_page(), "dept_phone")
        login(page, live_server, "dept_info", rec, "dept_phone")
        page.goto(live_server + "/review/inbox")
        card = page.locator("#inbox tbody tr[data-item]").first
        expect(card).to_be_visible()
        # a card: each value with its label beside it; the table header is hidden
        assert page.locator("#inbox thead").is_hidden()
        label = page.evaluate("""() => getComputedStyle(document.querySelector(
            '#inbox tbody td[data-label="学号"]'), '::before').content""")
        assert "学号" in label, label
        box = card.bounding_box()
        assert box and box["width"] <= 390 and box["height"] > 100
        rec.shot(page, "phone_inbox_cards")
        small = (_taps_too_small(page, "header a, header button")
                 + _taps_too_small(page, "#inbox label.tap, #inbox .btn, #bulk-approve, #inbox-filter .btn"))
        assert not small, small
        last = open_items(runtime, instances[-2], "Department")[0].id  # a 21st decision: two pages of 20
        step(lambda s: reviews.review(s, runtime.runner, actor("dept_info"), last, "approve", ""))
        page.goto(live_server + "/review/inbox?state=completed&size=20")
        expect(page.locator("#inbox tbody tr[data-item]")).to_have_count(N)
        expect(page.locator("#pager a[rel=next]")).to_be_visible()
        assert not _taps_too_small(page, "#pager a, #pager b"), "pager"
        expect(page.locator("#inbox td.decision").first).to_have_text("通过")
        rec.shot(page, "phone_completed_cards")
        # issue 11: past DECIDED_CAP decided items the tab says "cap+", the pager goes one page on, no 末页
        from engine import inbox

        monkeypatch.setattr(inbox, "DECIDED_CAP", 5)
        page.goto(live_server + "/review/inbox?state=completed&size=20")
        expect(page.locator("#count-completed b")).to_have_text("5+")
        expect(page.locator("#inbox-total")).to_contain_text("5+")
        expect(page.locator("#pager a[rel=next]")).to_be_visible()
        expect(page.locator("#pager a[rel=last]")).to_have_count(0)
        assert not _taps_too_small(page, "#pager a, #pager b, #kind-counts a"), "capped pager and chips"
        rec.shot(page, "phone_completed_capped")
        monkeypatch.undo()
        page.goto(live_server + f"/review/items/{open_items(runtime, instances[-1], 'Department')[0].id}")
        assert not _taps_too_small(page, "label.tap.choice, #submit-review"), "choices"
        rec.shot(page, "phone_review_choices")
    finally:
        phone.close()
    assert not rec.problems, rec.problems
    assert not rec.overflow, rec.overflow
