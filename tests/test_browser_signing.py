"""End to end in a real headless Chromium: online signing (线上签约).

An employer finds a graduate by name + 身份证号 and sends an invitation; the graduate accepts it on a
phone-sized screen; the department and the school approve it; the graduate then sees the 协议编号 and
downloads the e-agreement PDF, and the employer sees the agreement approved.

Reuses the live server, Chromium, Recorder (screenshots + error watching) and login of tests/test_browser.py;
screenshots go to $GRADFLOW_TEST_OUTPUT/browser-signing (default test-output/browser-signing).
"""
from __future__ import annotations

import re
import subprocess
import time
from pathlib import Path

import pytest

from tests.test_browser import (  # noqa: F401 (fixtures)
    DESKTOP,
    PHONE,
    Recorder,
    browser,
    live_server,
    login,
    output_dir,
)

pytestmark = [pytest.mark.browser, pytest.mark.service]

GRAD_NAME = "林小雨"
EMPLOYER = "厦门鹭江数据科技有限公司"
POSITION = "数据分析工程师"
WORK_PLACE = "厦门市思明区"
SUPPLEMENT = "提供员工宿舍"


def review_online_signing(browser, base: str, username: str, rec: Recorder, grad) -> None:  # noqa: F811
    """A reviewer opens the invitation the graduate accepted, reads the terms and approves."""
    from playwright.sync_api import expect

    context = browser.new_context(**DESKTOP)
    try:
        page = rec.watch(context.new_page(), username)
        login(page, base, username, rec, username)
        expect(page).to_have_url(re.compile(r"/review/inbox$"))
        row = page.locator("#inbox tr", has_text=grad.student_no)
        expect(row).to_have_count(1)
        expect(row).to_contain_text(grad.name)
        expect(row).to_contain_text(EMPLOYER)
        rec.shot(page, f"{username}_inbox")

        row.get_by_role("link", name="审核").click()
        expect(page).to_have_url(re.compile(r"/review/items/\d+$"))
        expect(page.locator("#employer-fields")).to_contain_text(EMPLOYER)
        terms = page.locator("#agreement-fields")
        for text in (POSITION, WORK_PLACE, "12000", "工程技术人员", SUPPLEMENT):
            expect(terms).to_contain_text(text)
        rec.shot(page, f"{username}_review")

        page.check("#decision-approve")
        page.click("#submit-review")
        expect(page).to_have_url(re.compile(r"/review/inbox$"))
        expect(page.locator(".flash")).to_contain_text("审核结果已提交")
        expect(page.locator("#inbox tr", has_text=grad.student_no)).to_have_count(0)
        rec.shot(page, f"{username}_inbox_done")
    finally:
        context.close()


def pdf_text(path: Path) -> str:
    """pdftotext's text with all whitespace removed (CJK runs may be split by layout)."""
    out = subprocess.run(["pdftotext", "-enc", "UTF-8", str(path), "-"], capture_output=True, check=True, timeout=60)
    return re.sub(r"\s+", "", out.stdout.decode("utf-8"))


def test_employer_invites_graduate_accepts_on_phone_reviewers_approve_pdf_downloads(
        live_server, browser, world, make_graduate, make_employer, tmp_path):  # noqa: F811
    # rules ONL-1, ONL-2, ONL-6, AGR-1, DOC-1
    from playwright.sync_api import expect

    started = time.monotonic()
    base = live_server
    grad = make_graduate("g1", name=GRAD_NAME)
    make_employer("hr", name=EMPLOYER)
    rec = Recorder(output_dir("browser-signing"))

    # 1. the employer finds the graduate by name + 身份证号 and sends an invitation (ONL-1)
    hr_context = browser.new_context(**DESKTOP)
    page = rec.watch(hr_context.new_page(), "hr")
    login(page, base, "hr", rec, "hr")
    expect(page).to_have_url(re.compile(r"/employer$"))
    expect(page.locator("h1")).to_have_text(EMPLOYER)
    rec.shot(page, "hr_home")
    page.click("#find-graduate")

    expect(page).to_have_url(re.compile(r"/employer/find$"))
    page.fill("#name", grad.name)
    page.fill("#id_number", grad.id_number)
    rec.shot(page, "hr_find_form")
    page.click("#find-submit")

    expect(page.locator("#found-name")).to_have_count(1)
    expect(page.locator("#found-name")).to_have_text(grad.name)
    expect(page.locator("#find-result")).to_contain_text(grad.major)
    expect(page.locator("#not-found")).to_have_count(0)
    rec.shot(page, "hr_find_result")
    page.click("#invite-link")

    expect(page).to_have_url(re.compile(rf"/employer/invite/{grad.id}$"))
    expect(page.locator("#invite-graduate")).to_contain_text(grad.name)
    expect(page.locator("#answer_days")).to_have_value("7")
    page.fill("#answer_days", "10")
    page.select_option("#job_category", label="工程技术人员")
    page.fill("#position", POSITION)
    page.fill("#work_place", WORK_PLACE)
    page.fill("#trial_months", "3")
    page.fill("#salary_trial", "10000")
    page.fill("#salary_regular", "12000")
    page.fill("#penalty", "5000")
    page.fill("#report_place", "厦门市软件园二期观日路")
    page.fill("#report_deadline", "2026-07-15")
    page.select_option("#archive_type", "签约单位接收")
    page.select_option("#hukou_type", "转回生源地")
    page.fill("#supplement", SUPPLEMENT)
    rec.shot(page, "hr_invite_form")
    page.click("#invite-submit")

    expect(page).to_have_url(re.compile(r"/employer/instances/\d+$"))
    employer_instance_url = page.url
    instance_id = int(re.search(r"/instances/(\d+)$", page.url).group(1))
    expect(page.locator(".flash")).to_contain_text("签约邀请已发送")
    expect(page.locator("#status-label")).to_have_text("单位发起邀请 等待应约")
    expect(page.locator("#agreement-fields")).to_contain_text(POSITION)
    expect(page.locator("#agreement-no")).to_contain_text("签约审核通过后生成")
    rec.shot(page, "hr_invited")
    hr_context.close()

    # 2. the graduate, on a phone, finds the invitation in 登记记录 and accepts it (ONL-2)
    grad_context = browser.new_context(**PHONE)
    page = rec.watch(grad_context.new_page(), "g1")
    login(page, base, "g1", rec, "g1")
    expect(page).to_have_url(re.compile(r"/graduate$"))
    rec.shot(page, "g1_modules")
    page.click("#module-destination")

    expect(page).to_have_url(re.compile(r"/graduate/destination$"))
    row = page.locator("#records tr", has_text=EMPLOYER)
    expect(row).to_have_count(1)
    expect(row).to_contain_text("单位发起邀请 等待应约")
    rec.shot(page, "g1_destination_home")
    row.locator("a").first.click()

    expect(page).to_have_url(re.compile(rf"/graduate/records/{instance_id}$"))
    record_url = page.url
    expect(page.locator("#status-label")).to_have_text("单位发起邀请 等待应约")
    expect(page.locator("#employer-fields")).to_contain_text(EMPLOYER)
    terms = page.locator("#agreement-fields")
    for text in (POSITION, WORK_PLACE, "12000", "10000", "工程技术人员", SUPPLEMENT):
        expect(terms).to_contain_text(text)
    expect(page.locator("#answer-deadline")).to_be_visible()
    expect(page.locator("#accept-invitation")).to_have_text("接受")
    expect(page.locator("#refuse-invitation")).to_have_text("拒绝")
    rec.shot(page, "g1_invitation")
    dialogs = []

    def confirm(dialog):
        dialogs.append(dialog.message)
        dialog.accept()

    page.once("dialog", confirm)
    page.click("#accept-invitation")

    expect(page).to_have_url(record_url)
    assert dialogs and "确定接受" in dialogs[0], dialogs
    expect(page.locator(".flash")).to_contain_text("已接受签约邀请")
    expect(page.locator("#status-label")).to_have_text("等待院系审核")
    expect(page.locator("#accept-invitation")).to_have_count(0)
    rec.shot(page, "g1_accepted")

    # 3. the department, then the school, read the terms and approve (AGR-1)
    review_online_signing(browser, base, "dept_info", rec, grad)
    review_online_signing(browser, base, "school", rec, grad)

    # 4. the graduate sees 签约审核通过 and a 19-digit 协议编号, and downloads the PDF (ONL-6, DOC-1)
    page.reload()
    assert page.url == record_url
    expect(page.locator("#status-label")).to_have_text("签约审核通过")
    expect(page.locator("#agreement-no")).to_have_text(re.compile(r"^\d{19}$"))
    agreement_no = page.locator("#agreement-no").inner_text().strip()
    expect(page.locator("#pdf-download")).to_be_visible()
    rec.shot(page, "g1_signed")
    with page.expect_download() as info:
        page.click("#pdf-download")
    download = info.value
    assert download.failure() is None, download.failure()
    assert agreement_no in download.suggested_filename, download.suggested_filename
    pdf = tmp_path / "agreement.pdf"
    download.save_as(str(pdf))
    assert pdf.read_bytes().startswith(b"%PDF")
    text = pdf_text(pdf)
    for expected in (GRAD_NAME, EMPLOYER, POSITION, agreement_no):
        assert expected in text, f"{expected!r} not in the PDF text: {text[:1500]}"
    grad_context.close()

    # 5. the employer sees the agreement approved, with the same 协议编号
    hr_context = browser.new_context(**DESKTOP)
    page = rec.watch(hr_context.new_page(), "hr")
    login(page, base, "hr", rec, "hr_again")
    expect(page).to_have_url(re.compile(r"/employer$"))
    row = page.locator("#employer-signings tr", has_text=GRAD_NAME)
    expect(row).to_have_count(1)
    expect(row).to_contain_text("签约审核通过")
    rec.shot(page, "hr_home_signed")
    row.get_by_role("link", name=GRAD_NAME).click()
    expect(page).to_have_url(employer_instance_url)
    expect(page.locator("#status-label")).to_have_text("签约审核通过")
    expect(page.locator("#agreement-no")).to_have_text(agreement_no)
    rec.shot(page, "hr_instance_signed")
    hr_context.close()

    names = [f.name for f in rec.files]
    assert len(names) == 23, names
    for f in rec.files:
        assert f.is_file() and f.stat().st_size > 0, f
    # Chromium reports the navigation it turned into the download as an aborted request: not an error
    aborted_download = f"g1: request failed {download.url} net::ERR_ABORTED"
    problems = [p for p in rec.problems if p != aborted_download]
    assert not problems, "\n".join(problems)
    print(f"\nbrowser signing scenario: {time.monotonic() - started:.1f}s, 协议编号 {agreement_no}, "
          f"screenshots in {rec.out}:")
    for n in names:
        print("  " + n)
    for line in rec.overflow:
        print("  horizontal overflow: " + line)


def test_in_the_peak_season_the_first_pdf_view_on_a_phone_says_it_is_being_made(
        runtime, browser, world, make_graduate, make_employer, step, actor):  # noqa: F811
    # rules DOC-1, ONL-6: GRADFLOW_RENDER_ON_DOWNLOAD in production: the first view queues the render and says
    # so (202, Retry-After); once the documents worker has rendered it the same link gives the PDF
    import logging
    import threading
    from dataclasses import replace

    from playwright.sync_api import expect
    from werkzeug.serving import make_server

    from gradflow.runtime import build_runtime
    from processes.agreements import pdf as agreement_pdf
    from tests.processes.test_agreement_lifecycle import signed_online
    from webapp import create_app

    grad = make_graduate("g1", name=GRAD_NAME)
    make_employer("hr", name=EMPLOYER)
    a = signed_online(runtime, step, actor, "g1", grad)
    queued: list[tuple] = []
    peak = build_runtime(replace(runtime.settings, render_on_download=True, celery_eager=False),
                         enqueue=lambda *args: queued.append(args))
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    server = make_server("127.0.0.1", 0, create_app(peak, TESTING=True), threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{server.server_port}"
    rec = Recorder(output_dir("browser-render-on-download"))
    context = browser.new_context(**PHONE)
    try:
        page = rec.watch(context.new_page(), "g1")
        login(page, base, "g1", rec, "g1")
        first = page.goto(f"{base}/agreements/{a.id}/pdf")
        assert first.status == 202 and first.headers.get("retry-after") == "5"
        expect(page.locator("#pdf-pending")).to_have_text("正在生成，请稍后刷新")
        expect(page.locator("#pdf-refresh")).to_be_visible()
        rec.shot(page, "phone_pdf_being_made")
        assert queued == [("gradflow.render_agreement", a.id)]  # handed to the documents queue, once
        with runtime.Session() as s:  # what the documents worker runs
            agreement_pdf.render_and_cache(s, a.id)
            s.commit()
        later = page.request.get(f"{base}/agreements/{a.id}/pdf?download=1")
        assert later.status == 200 and later.headers["content-type"] == "application/pdf"
        assert later.body().startswith(b"%PDF")
        assert not rec.problems and not rec.overflow, rec.problems + rec.overflow
    finally:
        context.close()
        server.shutdown()
        server.server_close()
        peak.db.dispose()
