"""身份证号 masked in lists, exports and logs (issue 12 must-hold 6, rule PRV-1).

Over the world of the authorisation sweep (graduates with filings, an invitation, archive info), every list
page, export (xlsx/csv) and API list (each GET route that names no record, data views by each view) is asked
by each role; no answer may carry a graduate's full 身份证号 (xlsx files are unzipped first). A record's own
detail page (the school's edit form, the graduate's own data) may show it and is not crawled: it names a
record. Python logging (caplog, every logger at DEBUG) during logins, steps, reviews, notifications and a
roster import, and the access_log rows they write, hold no full 身份证号 either.
"""
from __future__ import annotations

import io
import logging
import zipfile

import pytest
from sqlalchemy import select
from werkzeug.routing import AnyConverter

from domain.models import AccessLog, Graduate
from domain.seed import DEMO_PASSWORD
from tests.roster_helpers import good_row, upload, xlsx_bytes
from tests.test_authz_routes import OWN, WORDS, sweep  # noqa: F401 - the sweep's world, as a fixture

pytestmark = pytest.mark.one_backend  # what a page shows does not depend on the backend

ARCHIVE = {"archive_type": "转回生源地", "archive_unit": "厦门市思明区人才服务中心", "division_code": "350203",
           "archive_address": "湖滨南路1号", "archive_postcode": "361000", "archive_contact": "人事档案室",
           "archive_phone": "0592-1234567", "note": ""}


def _text(resp) -> str:
    data = resp.get_data()
    if data[:2] == b"PK":  # xlsx: the cells are in the zipped XML
        with zipfile.ZipFile(io.BytesIO(data)) as z:
            return "".join(z.read(n).decode("utf-8", "replace") for n in z.namelist() if n.endswith(".xml"))
    return data.decode("utf-8", "replace")


def _list_urls(app) -> list[str]:
    """Every GET route that names no record: the lists, exports and API lists (one URL per data view)."""
    from processes.statistics.views import VIEWS

    urls = []
    for rule in app.url_map.iter_rules():
        if "GET" not in (rule.methods or ()) or rule.endpoint in ("static", "auth.logout") \
                or rule.endpoint.startswith("vendor.") or rule.endpoint.endswith(".static"):
            continue
        names = set(rule.arguments)
        if names - {"view", "kind"} - {n for n in names if isinstance(rule._converters.get(n), AnyConverter)}:
            continue
        for view in sorted(VIEWS) if "view" in names else [None]:
            values = {n: sorted(rule._converters[n].items)[0] for n in names
                      if isinstance(rule._converters.get(n), AnyConverter)}
            values.update({"view": view} if view else {}, **({"kind": WORDS["kind"]} if "kind" in names else {}))
            urls.append(app.url_map.bind("localhost").build(rule.endpoint, values, append_unknown=False))
    return sorted(set(urls))


def _id_numbers(runtime) -> list[str]:
    with runtime.Session() as s:
        return list(s.scalars(select(Graduate.id_number)))


def test_no_list_export_or_api_list_shows_a_full_id_number(app, runtime, sweep, step, actor):  # noqa: F811
    # rule PRV-1: ID numbers are masked in lists; issue 12 must-hold 6: in exports and API lists too
    from domain.transfers import ARCHIVE_KIND, register_by_school

    graduate_id = sweep.ids["grad"]["graduate_id"]
    step(lambda s: register_by_school(s, actor("school"), graduate_id, ARCHIVE_KIND, ARCHIVE))  # ARC-7
    numbers = _id_numbers(runtime)
    assert len(numbers) >= 5
    urls = _list_urls(app)
    assert any("/export" in u for u in urls) and any(u.startswith("/api/v1/data/") for u in urls)
    shown: list[str] = []
    crawled = 0
    for username in (u for u in OWN.values() if u):
        client = app.test_client()
        assert client.post("/login", data={"username": username, "password": DEMO_PASSWORD}).status_code == 302
        token = client.post("/api/v1/token", json={"username": username, "password": DEMO_PASSWORD}).json["token"]
        for url in urls:
            headers = {"Authorization": f"Bearer {token}"} if url.startswith("/api/") else {}
            resp = client.get(url, headers=headers)
            if resp.status_code != 200:
                continue
            crawled += 1
            text = _text(resp)
            shown += [f"{username} {url}: {n}" for n in numbers if n in text]
    assert crawled > 100, crawled  # the crawl reached the lists
    assert not shown, "\n".join(shown)


def test_no_log_line_or_access_log_row_holds_a_full_id_number(app, runtime, world, make_graduate, client_for,
                                                              caplog):
    # issue 12 must-hold 6: logs mask ID numbers (Python logging and the access log), during logins, steps, imports
    from tests.conftest import with_proof

    caplog.set_level(logging.DEBUG)
    grad = make_graduate("grad_a", name="甲某某")
    anon = app.test_client()
    # a graduate who types the 身份证号 as the login name, page and API
    assert anon.post("/login", data={"username": grad.id_number, "password": "x"}).status_code == 401
    assert anon.post("/api/v1/token", json={"username": grad.id_number, "password": "x"}).status_code == 401
    logging.getLogger("gradflow.test").warning("graduate %s asked", grad.id_number)  # a careless log line
    try:
        raise ValueError(f"bad row {grad.id_number}")
    except ValueError:
        logging.getLogger("gradflow.test").exception("import failed")
    # a step, its review and its notifications (logged by the senders)
    from domain.accounts import actor_for
    from domain.models import Account
    from engine.models import WorkItem
    from processes.destination import services as filing
    from processes.review import services as review

    with runtime.Session() as s:
        g = s.get(Graduate, grad.id)
        acting = actor_for(s, s.scalar(select(Account).where(Account.username == "grad_a")))
        inst = filing.start_filing(s, runtime.runner, acting, g, with_proof(s, g.id))
        s.commit()
        item_id = s.scalar(select(WorkItem.id).where(WorkItem.instance_id == inst.id, WorkItem.state == "open"))
        dept = actor_for(s, s.scalar(select(Account).where(Account.username == "dept_info")))
        review.review(s, runtime.runner, dept, item_id, "reject", f"材料与{g.id_number}不符", {}, {})  # REV-4, NOTE-1
        s.commit()
    from engine import outbox

    assert outbox.deliver_pending(runtime.Session, runtime.extensions.senders) >= 1  # the senders log each message
    # a roster import with a good row and a row whose 身份证号 is taken
    rows = [good_row(1), good_row(2, 身份证号=grad.id_number)]
    school = client_for("school")
    assert upload(school, xlsx_bytes(rows), "graduates.xlsx").status_code == 302
    numbers = _id_numbers(runtime)
    logged = caplog.text
    assert "graduate 3502" in logged and "bad row 3502" in logged  # the lines are there, masked
    assert not [n for n in numbers if n in logged], [line for line in logged.splitlines()
                                                     if any(n in line for n in numbers)]
    with runtime.Session() as s:
        reasons = list(s.scalars(select(AccessLog.reason)))
    assert any("login failed" in r for r in reasons)
    assert not [r for r in reasons if any(n in r for n in numbers)], reasons
