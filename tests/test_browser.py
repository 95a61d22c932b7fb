"""End to end in a real headless Chromium: a graduate files a destination on a phone-sized screen,
the department and the school approve it, the graduate sees the result and the message.

The app runs for real (CSRF on) behind werkzeug in a background thread; every page visited is
screenshotted into $GRADFLOW_TEST_OUTPUT/browser (default test-output/browser under the repo root).
"""
from __future__ import annotations

import logging
import os
import re
import threading
import time
from pathlib import Path

import pytest

from tests.conftest import ROOT, png_bytes

pytestmark = [pytest.mark.browser, pytest.mark.service]

PHONE = dict(viewport={"width": 390, "height": 844}, device_scale_factor=2, is_mobile=True, has_touch=True,
             locale="zh-CN")
DESKTOP = dict(viewport={"width": 1280, "height": 900}, locale="zh-CN")
TIMEOUT_MS = 15_000
NOTE = "自由撰稿，长期为多家杂志供稿"


def output_dir(name: str = "browser") -> Path:
    base = Path(os.environ.get("GRADFLOW_TEST_OUTPUT", "test-output"))
    if not base.is_absolute():
        base = ROOT / base
    out = base / name
    out.mkdir(parents=True, exist_ok=True)
    for old in out.glob("[0-9][0-9]_*.png"):  # only the files this test writes
        old.unlink()
    return out


@pytest.fixture
def live_server(runtime):
    """The real app (CSRF enabled) on 127.0.0.1 and a free port, in a background thread."""
    from werkzeug.serving import make_server

    from webapp import create_app

    app = create_app(runtime, TESTING=True)
    assert app.config.get("WTF_CSRF_ENABLED", True), "the browser test must run with CSRF on"
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="gradflow-live-server", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


@pytest.fixture
def browser(chromium):
    """The session's Chromium (tests.conftest.chromium); a test opens its own contexts in it and closes them."""
    yield chromium
    for context in chromium.contexts:  # a context a failed test left open
        context.close()


def _favicon(url: str) -> bool:
    return url.endswith("/favicon.ico")  # the app has none; Chromium asks anyway


class Recorder:
    """Numbered full-page screenshots plus every page error and failed response, per page."""

    def __init__(self, out: Path):
        self.out = out
        self.files: list[Path] = []
        self.problems: list[str] = []
        self.overflow: list[str] = []

    def watch(self, page, who: str):
        page.set_default_timeout(TIMEOUT_MS)
        page.on("pageerror", lambda exc: self.problems.append(f"{who}: JS error {exc}"))
        page.on("console", lambda msg: msg.type == "error" and not _favicon(msg.location.get("url", ""))
                and self.problems.append(f"{who}: console {msg.text} at {msg.location.get('url')}"))
        page.on("requestfailed", lambda req: self.problems.append(f"{who}: request failed {req.url} {req.failure}"))
        page.on("response", lambda resp: resp.status >= 400 and not _favicon(resp.url)
                and self.problems.append(f"{who}: HTTP {resp.status} {resp.url}"))
        return page

    def shot(self, page, name: str) -> None:
        page.wait_for_load_state("load")
        path = self.out / f"{len(self.files) + 1:02d}_{name}.png"
        page.screenshot(path=str(path), full_page=True)
        self.files.append(path)
        wide = page.evaluate("() => [document.documentElement.scrollWidth, document.documentElement.clientWidth]")
        if wide[0] > wide[1]:
            self.overflow.append(f"{path.name}: page is {wide[0]}px wide in a {wide[1]}px viewport")


def login(page, base: str, username: str, rec: Recorder, who: str) -> None:
    from playwright.sync_api import expect

    from domain.seed import DEMO_PASSWORD

    page.goto(base + "/login")
    expect(page.locator("#login-submit")).to_be_visible()
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", DEMO_PASSWORD)
    rec.shot(page, f"{who}_login")
    page.click("#login-submit")
    page.wait_for_load_state("load")
    assert "/login" not in page.url, page.content()[:2000]


def review_and_approve(browser, base: str, username: str, rec: Recorder, grad_name: str, student_no: str) -> None:
    from playwright.sync_api import expect

    context = browser.new_context(**DESKTOP)
    try:
        page = rec.watch(context.new_page(), username)
        login(page, base, username, rec, username)
        expect(page).to_have_url(re.compile(r"/review/inbox$"))
        row = page.locator("#inbox tr", has_text=student_no)
        expect(row).to_have_count(1)
        expect(row).to_contain_text(grad_name)
        expect(row).to_contain_text("自由职业")
        rec.shot(page, f"{username}_inbox")

        row.get_by_role("link", name="审核").click()
        expect(page).to_have_url(re.compile(r"/review/items/\d+$"))
        expect(page.locator("#application")).to_contain_text("自由职业")
        expect(page.locator("#application")).to_contain_text(NOTE)
        expect(page.locator(".thumbs img")).to_have_count(1)
        page.wait_for_function("() => { const i = document.querySelector('.thumbs img');"
                               " return i && i.complete; }")
        size = page.evaluate("() => { const i = document.querySelector('.thumbs img');"
                             " return [i.naturalWidth, i.naturalHeight]; }")
        assert size[0] > 0 and size[1] > 0, f"{username}: the proof image did not load ({size})"
        rec.shot(page, f"{username}_review")

        page.check("#decision-approve")
        page.click("#submit-review")
        expect(page).to_have_url(re.compile(r"/review/inbox$"))
        expect(page.locator(".flash")).to_contain_text("审核结果已提交")
        expect(page.locator("#inbox tr", has_text=student_no)).to_have_count(0)  # no longer open
        rec.shot(page, f"{username}_inbox_done")
    finally:
        context.close()


def test_graduate_files_freelance_and_both_reviewers_approve(live_server, browser, world, make_graduate,
                                                             tmp_path):
    # rules GRAD-3, DST-1, REV-1, REV-2, NOTE-1
    from playwright.sync_api import expect

    started = time.monotonic()
    base = live_server
    grad = make_graduate("g1", confirmed=False)
    rec = Recorder(output_dir())
    proof = tmp_path / "proof.png"
    proof.write_bytes(png_bytes(size=(320, 240)))

    # 1. the unconfirmed graduate, on a phone: confirm basic info (GRAD-3), file 自由职业 with a proof (DST-1)
    grad_context = browser.new_context(**PHONE)
    page = rec.watch(grad_context.new_page(), "g1")
    login(page, base, "g1", rec, "g1")
    expect(page).to_have_url(re.compile(r"/graduate/confirm$"))
    expect(page.locator("#basic-info")).to_contain_text(grad.name)
    expect(page.locator("#basic-info")).to_contain_text(grad.exam_no)
    rec.shot(page, "g1_confirm")
    confirm_button = page.locator("#confirm-info")
    expect(confirm_button).to_have_text("信息确认无误，进入系统")
    confirm_button.click()

    expect(page).to_have_url(re.compile(r"/graduate$"))
    expect(page.locator("#module-destination")).to_contain_text("毕业去向填报")
    rec.shot(page, "g1_modules")
    page.click("#module-destination")

    expect(page).to_have_url(re.compile(r"/graduate/destination$"))
    freelance = page.locator("a[data-type=freelance]")
    expect(freelance).to_have_text("自由职业")
    rec.shot(page, "g1_destination_home")
    freelance.click()

    expect(page).to_have_url(re.compile(r"/graduate/destination/new\?type=freelance$"))
    expect(page.locator("h1")).to_have_text("自由职业")
    expect(page.locator("select[name=dest_type]")).to_have_value("freelance")
    page.fill("textarea[name=note]", NOTE)
    page.set_input_files("input[name=images]", str(proof))
    rec.shot(page, "g1_destination_form")
    page.click("#submit-destination")

    expect(page).to_have_url(re.compile(r"/graduate/records/\d+$"))
    expect(page.locator(".flash")).to_contain_text("已提交，等待审核")
    expect(page.locator("#status-label")).to_have_text("等待院系审核")
    expect(page.locator("#record-fields")).to_contain_text(NOTE)
    rec.shot(page, "g1_record_submitted")
    record_url = page.url

    # 2. the department reviewer approves (REV-1, REV-2); 3. then the school does
    review_and_approve(browser, base, "dept_info", rec, grad.name, grad.student_no)
    review_and_approve(browser, base, "school", rec, grad.name, grad.student_no)

    # 4. the graduate sees the result on the record and in the message centre (NOTE-1)
    page.reload()
    assert page.url == record_url
    expect(page.locator("#status-label")).to_have_text("审核通过")
    expect(page.locator("#withdraw")).to_have_count(0)
    rec.shot(page, "g1_record_approved")
    page.click("#nav-messages")
    expect(page).to_have_url(re.compile(r"/messages$"))
    expect(page.locator("#messages")).to_contain_text("学校审核通过")
    rec.shot(page, "g1_messages")
    grad_context.close()

    names = [f.name for f in rec.files]
    assert len(names) == 16, names
    for f in rec.files:
        assert f.is_file() and f.stat().st_size > 0, f
    assert not rec.problems, "\n".join(rec.problems)
    print(f"\nbrowser scenario: {time.monotonic() - started:.1f}s, screenshots in {rec.out}:")
    for n in names:
        print("  " + n)
    for line in rec.overflow:
        print("  horizontal overflow: " + line)
