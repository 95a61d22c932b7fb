"""GRAD-4 切换届别: a graduate with records in several cohorts views an earlier one, read-only; the school's list
filters by cohort (default: the newest open one)."""
from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import func, select

from core.db import utcnow
from domain import seed
from domain.accounts import actor_for
from domain.cohorts import ensure_cohort
from domain.models import Account, Cohort, Graduate, Message, School
from engine.models import ProcessInstance, WorkItem
from tests.conftest import open_items, with_proof


@pytest.fixture
def two_cohorts(runtime, world, make_graduate):
    """g1 graduated in 2025 (a record with a destination filing and a message) and is in the 2026 cohort now."""
    from processes.destination import services as filing

    old = make_graduate("g1", cohort=2025, enrolled_on="202109", graduates_on="202506", major="软件工程")
    with runtime.Session() as s:
        school = s.get(School, world.school.id)
        new = seed.make_graduate(s, school, world.info, cohort=2026, id_number=old.id_number, name=old.name,
                                 student_no="2026000001", major="人工智能")
        s.commit()
        new_id = new.id
    with runtime.Session() as s:
        s.connection(execution_options={"sqlite_immediate": True})
        account = s.scalar(select(Account).where(Account.username == "g1"))
        actor = actor_for(s, account, graduate=s.get(Graduate, old.id))
        inst = filing.start_filing(s, runtime.runner, actor, s.get(Graduate, old.id), with_proof(s, old.id))
        s.add(Message(account_id=account.id, title="2025届的审核结果", body="旧消息", instance_id=inst.id))
        s.commit()
        inst_id = inst.id
    return {"old": old.id, "new": new_id, "instance": inst_id}


def test_current_record_is_the_newest_and_the_header_offers_the_switch(app, runtime, two_cohorts, client_for):
    # rule GRAD-4
    web = client_for("g1")
    page = web.get("/graduate").get_data(as_text=True)
    assert 'id="nav-cohort"' in page and "2026届" in page
    cohorts = web.get("/graduate/cohorts").get_data(as_text=True)
    assert 'id="switch-2025"' in cohorts and "往届（只读）" in cohorts and 'id="switch-2026"' not in cohorts


def test_a_single_cohort_graduate_sees_no_switch(app, runtime, world, make_graduate, client_for):
    # rule GRAD-4
    make_graduate("g2")
    assert 'id="nav-cohort"' not in client_for("g2").get("/graduate").get_data(as_text=True)


def test_switch_to_an_earlier_cohort_shows_its_records_and_messages_read_only(app, runtime, two_cohorts, client_for):
    # rule GRAD-4
    web = client_for("g1")
    resp = web.post("/graduate/cohorts", data={"graduate_id": two_cohorts["old"]})
    assert resp.status_code == 302 and resp.headers["Location"].endswith("/graduate/cohorts/view")
    view = web.get("/graduate/cohorts/view").get_data(as_text=True)
    assert 'id="read-only-banner"' in view and "2025届" in view and "软件工程" in view
    assert f'/graduate/cohorts/records/{two_cohorts["instance"]}' in view and "2025届的审核结果" in view
    record = web.get(f"/graduate/cohorts/records/{two_cohorts['instance']}").get_data(as_text=True)
    assert "只能查看" in record and 'id="withdraw"' not in record and "<form" not in record.split("</header>")[1]
    header = web.get("/graduate").get_data(as_text=True)
    assert "2025届" in header and "只读" in header
    # back to the current cohort
    resp = web.post("/graduate/cohorts", data={"graduate_id": two_cohorts["new"]})
    assert resp.status_code == 302 and resp.headers["Location"].endswith("/graduate")
    assert web.get("/graduate/cohorts/view").status_code == 302


def test_while_an_earlier_cohort_is_chosen_every_write_is_refused(app, runtime, two_cohorts, client_for):
    # rule GRAD-4
    from tests.conftest import FREELANCE

    web = client_for("g1")
    web.post("/graduate/cohorts", data={"graduate_id": two_cohorts["old"]})
    before = _counts(runtime)
    resp = web.post(f"/graduate/records/{two_cohorts['instance']}/withdraw")
    assert resp.status_code == 409 and "2025届为往届记录，只能查看" in resp.get_data(as_text=True)
    resp = web.post("/graduate/account", data={"phone": "13900000000", "email": ""})
    assert resp.status_code == 409
    csrf = web.get("/api/v1/csrf-token").json
    api = web.post("/api/v1/processes/destination_filing/instances", json=FREELANCE,
                   headers={"X-CSRFToken": csrf.get("csrf_token", csrf.get("token", ""))})
    assert api.status_code == 409 and "往届记录" in api.json["error"]["message"]
    assert _counts(runtime) == before


def test_api_refuses_writes_on_an_earlier_record_even_with_a_token(app, runtime, two_cohorts):
    # rule GRAD-4
    api = app.test_client()
    token = api.post("/api/v1/token", json={"username": "g1", "password": "demo1234"}).json["token"]
    headers = {"Authorization": f"Bearer {token}"}
    cohorts = api.get("/api/v1/me/cohorts", headers=headers).json["items"]
    assert [(c["cohort"], c["read_only"]) for c in cohorts] == [(2026, False), (2025, True)]
    records = api.get(f"/api/v1/me/cohorts/{two_cohorts['old']}/records", headers=headers).json
    assert records["read_only"] and [r["id"] for r in records["records"]] == [two_cohorts["instance"]]
    assert records["messages"][0]["title"] == "2025届的审核结果"
    before = _counts(runtime)
    resp = api.post(f"/api/v1/instances/{two_cohorts['instance']}/withdraw", headers=headers)
    assert resp.status_code == 409 and "2025届为往届记录" in resp.json["error"]["message"]
    item = next(iter(open_items(runtime, two_cohorts["instance"]) or []), None)
    if item is not None:
        resp = api.post(f"/api/v1/work-items/{item.id}/complete", headers=headers, json={"decision": "approve"})
        assert resp.status_code == 409
    assert _counts(runtime) == before
    # the current record still works
    assert api.get("/api/v1/me", headers=headers).status_code == 200


def test_the_chosen_cohort_must_be_the_persons_own(app, runtime, two_cohorts, world, make_graduate, client_for):
    # rules GRAD-4, ROLE-1
    other = make_graduate("g3", cohort=2025)
    web = client_for("g1")
    assert web.post("/graduate/cohorts", data={"graduate_id": other.id}).status_code == 404
    assert web.get(f"/graduate/cohorts/records/{two_cohorts['instance']}").status_code == 200
    stranger = client_for("g3")
    assert stranger.get(f"/graduate/cohorts/records/{two_cohorts['instance']}").status_code == 404
    api = app.test_client()
    token = api.post("/api/v1/token", json={"username": "g3", "password": "demo1234"}).json["token"]
    resp = api.get(f"/api/v1/me/cohorts/{two_cohorts['old']}/records", headers={"Authorization": f"Bearer {token}"})
    assert resp.status_code == 404


def test_school_list_defaults_to_the_newest_open_cohort(app, runtime, world, make_graduate, client_for, step):
    # rule GRAD-4
    old = make_graduate("a1", cohort=2025, graduates_on="202506", name="老届生")
    new = make_graduate("a2", cohort=2026, name="新届生")
    later = make_graduate("a3", cohort=2027, graduates_on="202706", enrolled_on="202309", name="未来生")

    def close_2027(s):  # a cohort whose season has ended is not the default
        ensure_cohort(s, 2027).ends_on = date(2000, 1, 1)
        for year in (2025, 2026):
            s.get(Cohort, year).ends_on = date(utcnow().year + 5, 12, 31)

    step(close_2027)
    school = client_for("school")
    page = school.get("/school/graduates").get_data(as_text=True)
    assert f'id="graduate-{new.id}"' in page and f'id="graduate-{old.id}"' not in page
    assert f'id="graduate-{later.id}"' not in page
    assert f'id="graduate-{old.id}"' in school.get("/school/graduates?cohort=2025").get_data(as_text=True)
    every = school.get("/school/graduates?cohort=").get_data(as_text=True)
    assert all(f'id="graduate-{g.id}"' in every for g in (old, new, later))


def _counts(runtime):
    with runtime.Session() as s:
        return (s.scalar(select(func.count()).select_from(ProcessInstance)),
                s.scalar(select(func.count()).select_from(WorkItem).where(WorkItem.state == "open")),
                s.scalar(select(Graduate.phone).order_by(Graduate.id).limit(1)))
