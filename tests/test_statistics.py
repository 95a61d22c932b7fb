"""PRV-2 statistics: kept in the step's transaction, equal to a brute-force count after every step of a season."""
from __future__ import annotations

from collections import Counter, defaultdict

import pytest
from sqlalchemy import select

from domain import seed, transfers
from domain import statistics as st
from domain.models import DestinationRecord, EffectiveDestination, Graduate, RegisteredInfo, School
from domain.stats_models import GraduateStat, StatCounter
from engine.models import WorkItem
from processes.agreements import services as signing
from processes.archive.kind import SPEC as ARCHIVE
from processes.destination import services as filing
from processes.hukou.kind import SPEC as HUKOU
from processes.statistics import stats
from processes.terminations import services as terminations
from tests.conftest import TERMS, open_items, with_proof
from tests.processes import transfer_steps

ARCHIVE_HOME = {"archive_type": "转回生源地", "archive_unit": "厦门市思明区人才服务中心", "division_code": "350203",
                "archive_address": "湖滨南路1号", "archive_postcode": "361000", "archive_contact": "人事档案室",
                "archive_phone": "0592-1234567", "note": "", "attachment_ids": []}
HUKOU_HOME = {"hukou_type": "转回生源地", "division_code": "350203", "hukou_address": "思明区湖滨南路1号", "note": "",
              "attachment_ids": []}
REASON = {"reason": "other_offer", "reason_name": "毕业生另有就业选择", "explanation": "双方协商一致"}
STUDY = {"dest_type": "domestic_study", "fields": {"school_name": "北京大学", "major": "计算机"}, "attachment_ids": []}


def brute_force(session, school_ids, by: str):
    """Independently of domain.statistics: every graduate's state per module, counted per school or 院系."""
    def reviewing(gid, area_prefixes, exclude=()):
        for item in session.scalars(select(WorkItem).where(WorkItem.graduate_id == gid, WorkItem.state == "open")):
            if item.role not in ("Department", "School"):
                continue
            pid = item.process_id
            if area_prefixes and pid.startswith(area_prefixes):
                return True
            if not area_prefixes and not pid.startswith(exclude):
                return True
        return False

    out = {m: defaultdict(Counter) for m in st.MODULES}
    types = Counter()
    for grad in session.scalars(select(Graduate).where(Graduate.school_id.in_(school_ids))):
        if grad.deleted_at is not None:
            continue
        key = grad.school_id if by == "school" else grad.department_id
        eff = session.get(EffectiveDestination, grad.id)
        if eff is not None:
            state = "registered"
            if eff.kind == "agreement":
                types["agreement"] += 1
            else:
                types[session.get(DestinationRecord, eff.record_id).dest_type] += 1
        else:
            state = "reviewing" if reviewing(grad.id, (), ("archive_", "hukou_")) else "unregistered"
        out["destination"][key][state] += 1
        for kind in ("archive", "hukou"):
            if kind == "hukou" and not grad.hukou_in_school:
                continue
            active = session.scalar(select(RegisteredInfo).where(RegisteredInfo.graduate_id == grad.id,
                                                                 RegisteredInfo.kind == kind, RegisteredInfo.active))
            state = "registered" if active else ("reviewing" if reviewing(grad.id, (f"{kind}_",)) else "unregistered")
            out[kind][key][state] += 1
    return out, types


def expected_rows(counted: Counter) -> dict:
    reviewing = counted["reviewing"]
    return {"total": sum(counted.values()), "registered": counted["registered"],
            "unregistered": counted["unregistered"] + reviewing, "reviewing": reviewing}


@pytest.fixture
def season(runtime, world, make_graduate, make_employer, step, actor):
    """福建省 with 厦门大学 (two 院系), a province account, and 北京大学 in another province (out of scope)."""
    with runtime.Session() as s:
        seed.make_account(s, "prov", "province", "福建省教育厅", province_id=world.province.id)
        other_p = seed.make_province(s, code="110000", name="北京市")
        other = seed.make_school(s, other_p, code="10001", name="北京大学")
        dept = seed.make_department(s, other, "哲学系")
        seed.make_graduate(s, other, dept, name="外省甲", username="pku1")
        school = s.get(School, world.school.id)
        school.open_modules = ["destination", "archive", "hukou"]
        s.commit()
    grads = {u: make_graduate(u, department=world.econ if u in ("g3", "g4") else None, name=f"学生{u}")
             for u in ("g1", "g2", "g3", "g4", "g5")}
    grads["g6"] = make_graduate("g6", name="学生g6", hukou_in_school=False)
    make_employer("hr")
    return grads


def check(runtime, actor, world):
    """The counters, read as the province and as the school read them, equal the brute-force count."""
    prov, school = actor("prov"), actor("school")
    with runtime.Session() as s:
        for who, ids, by in ((prov, [world.school.id], "school"), (school, [world.school.id], "department")):
            truth, types = brute_force(s, ids, by)
            for module in st.MODULES:
                data = stats.table(s, who, module, None)
                got = {r["id"]: {k: r[k] for k in stats.KEYS} for r in data["rows"]}
                for key, row in got.items():
                    assert row == expected_rows(truth[module][key]), (who.role, module, key)
                assert {k for k, v in got.items() if v["total"]} == set(truth[module]), (who.role, module)
                total = {k: data["total"][k] for k in stats.KEYS}
                assert total == expected_rows(sum(truth[module].values(), Counter())), (who.role, module)
                if module == "destination":
                    assert {t["code"]: t["n"] for t in data["types"]["types"]} == dict(+types)
        # the rows are the scope's only: 北京大学 is another province's
        assert [r["name"] for r in stats.table(s, prov, "destination", None)["rows"]] == ["厦门大学"]


def _counters(session) -> list[tuple]:
    """Every non-zero counter, sorted: what the steps kept, to compare with a rebuild from scratch."""
    return sorted((c.school_id, c.department_id, c.cohort, c.module, c.bucket, c.n)
                  for c in session.scalars(select(StatCounter)) if c.n)


def test_statistics_follow_a_season_step_by_step(runtime, world, season, step, actor, make_graduate):
    # rule PRV-2
    grads = season
    check(runtime, actor, world)

    def decide(user, inst, decision, reason=""):
        from processes.review import services as reviews

        a = actor(user)
        item = open_items(runtime, inst.id, "Department" if user.startswith("dept") else "School")[0]
        step(lambda s: reviews.review(s, runtime.runner, a, item.id, decision, reason))
        check(runtime, actor, world)

    # g1 files a destination; two approvals make it effective; then voids it (DST-3)
    g1 = actor("g1")
    inst = step(lambda s: filing.start_filing(s, runtime.runner, g1, s.get(Graduate, g1.graduate_id),
                                              with_proof(s, g1.graduate_id)))
    check(runtime, actor, world)
    decide("dept_info", inst, "approve")
    decide("school", inst, "approve")
    with runtime.Session() as s:
        assert s.get(GraduateStat, grads["g1"].id).dest_type == "freelance"
    step(lambda s: filing.void(s, runtime.runner, g1, inst.id))
    check(runtime, actor, world)

    # g2 signs online (ONL), then terminates (TRM)
    hr = actor("hr")
    sign = step(lambda s: signing.invite(s, runtime.runner, hr, grads["g2"].id, TERMS, 7))
    check(runtime, actor, world)
    g2 = actor("g2")
    step(lambda s: signing.answer_invitation(s, runtime.runner, g2, sign.id, "accept"))
    check(runtime, actor, world)
    decide("dept_info", sign, "approve")
    decide("school", sign, "approve")
    with runtime.Session() as s:
        from domain.models import Agreement

        agreement = s.scalar(select(Agreement).where(Agreement.instance_id == sign.id))
    term = step(lambda s: terminations.start_online_termination(s, runtime.runner, g2, agreement.id, REASON))
    check(runtime, actor, world)
    step(lambda s: terminations.answer_termination(s, runtime.runner, hr, term.id, "accept"))
    check(runtime, actor, world)
    decide("dept_info", term, "approve")
    decide("school", term, "approve")

    # g3 (经济学院) files further study: returned, resubmitted, rejected at school level
    g3 = actor("g3")
    study = step(lambda s: filing.start_filing(s, runtime.runner, g3, s.get(Graduate, g3.graduate_id),
                                               with_proof(s, g3.graduate_id, STUDY)))
    check(runtime, actor, world)
    decide("dept_econ", study, "return", "请补充材料")
    item = open_items(runtime, study.id, "Graduate")[0]
    step(lambda s: filing.resubmit(s, runtime.runner, g3, s.get(Graduate, g3.graduate_id), item.id,
                                   with_proof(s, g3.graduate_id, STUDY)))
    check(runtime, actor, world)
    decide("dept_econ", study, "approve")
    decide("school", study, "reject", "材料不符")
    again = step(lambda s: filing.start_filing(s, runtime.runner, g3, s.get(Graduate, g3.graduate_id),
                                               with_proof(s, g3.graduate_id, STUDY)))
    decide("dept_econ", again, "approve")
    decide("school", again, "approve")

    # archive (g4, 经济学院) and hukou (g5): registration approved / rejected
    arc = transfer_steps.start(ARCHIVE, runtime, step, actor, "g4", default=ARCHIVE_HOME)
    check(runtime, actor, world)
    decide("dept_econ", arc, "approve")
    decide("school", arc, "approve")
    huk = transfer_steps.start(HUKOU, runtime, step, actor, "g5", default=HUKOU_HOME)
    check(runtime, actor, world)
    decide("dept_info", huk, "reject", "地址有误")
    huk2 = transfer_steps.start(HUKOU, runtime, step, actor, "g5", default=HUKOU_HOME)
    decide("dept_info", huk2, "approve")
    check(runtime, actor, world)

    # outside any step: the school registers g6's archive directly (ARC-7), then deletes g5 (GRAD-5)
    school = actor("school")
    clean = {k: v for k, v in ARCHIVE_HOME.items() if k != "attachment_ids"}
    step(lambda s: transfers.register_by_school(s, school, grads["g6"].id, transfers.ARCHIVE_KIND, clean))
    check(runtime, actor, world)
    step(lambda s: transfers.delete_basic_info(s, runtime.runner, school, grads["g5"].id))
    check(runtime, actor, world)
    # a graduate added later counts at once (未登记)
    make_graduate("g7", department=world.econ)
    check(runtime, actor, world)

    # rebuild_statistics recounts from scratch to exactly the counters the steps kept
    with runtime.Session() as s:
        kept = _counters(s)
        st.rebuild_statistics(s)
        s.commit()
        rebuilt = _counters(s)
    assert kept == rebuilt
    check(runtime, actor, world)


def test_statistics_pages_scope_and_role2(app, runtime, world, season, step, actor, client_for):
    # rules PRV-2, ROLE-1, ROLE-2
    prov = client_for("prov")
    page = prov.get("/statistics")
    assert page.status_code == 200
    text = page.get_data(as_text=True)
    assert "厦门大学" in text and "北京大学" not in text and "总人数" in text
    assert "<script>" not in text and "echarts.min.js" in text  # no inline script; ECharts served locally
    assert prov.get("/statistics/vendor/echarts.min.js").status_code == 200
    body = prov.get("/api/v1/statistics?module=hukou").json
    assert body["rows"][0]["total"] == 5 and body["total"]["total"] == 5  # g6: 户口未转入学校 (MOD-5)
    assert prov.get("/api/v1/statistics?module=bogus").status_code == 422
    assert prov.get("/api/v1/statistics?cohort=20x6").status_code == 422
    # a school sees its 院系; a 院系 only itself
    school = client_for("school").get("/api/v1/statistics").json
    assert {r["name"] for r in school["rows"]} == {"信息学院", "经济学院"} and school["total"]["total"] == 6
    dept = client_for("dept_info").get("/api/v1/statistics").json
    assert [r["name"] for r in dept["rows"]] == ["信息学院"]
    # ROLE-2: a school account with 无权限 on archive cannot open the archive statistics
    with runtime.Session() as s:
        seed.make_account(s, "school_basic", "school", "只有就业信息", school_id=world.school.id,
                          module_permissions={"basic": "ro", "archive": "none", "hukou": "none"})
        s.commit()
    limited = client_for("school_basic")
    assert limited.get("/statistics?module=archive").status_code == 404
    assert limited.get("/api/v1/statistics?module=hukou").status_code == 404
    assert limited.get("/statistics").status_code == 200
    # graduates and employers have no statistics
    assert client_for("g1").get("/statistics").status_code in (302, 403, 404)


def test_two_transactions_recounting_one_graduate_take_turns(runtime, world, make_graduate):
    # rule PRV-2: a recount locks the graduate's stat row (the claiming upsert) until its transaction ends, so
    # a second recount of the same graduate waits for it and the graduate is counted once
    from sqlalchemy import text
    from sqlalchemy.exc import OperationalError

    if runtime.db.dialect.name != "postgresql":
        pytest.skip("SQLite has one writer at a time: its write lock already serialises the recounts")
    grad = make_graduate("lock1")
    with runtime.Session() as first, runtime.Session() as second:
        s_first = first.get(GraduateStat, grad.id)
        assert s_first is not None and s_first.destination == st.UNREGISTERED
        first.add(EffectiveDestination(graduate_id=grad.id, kind="destination", record_id=1))
        st.refresh_graduates(first, [grad.id])  # counted as registered, row locked, not committed yet
        second.execute(text("SET LOCAL lock_timeout = '300ms'"))
        with pytest.raises(OperationalError, match="lock timeout"):
            st.refresh_graduates(second, [grad.id])
        second.rollback()
        first.commit()
        st.refresh_graduates(second, [grad.id])  # now it sees the committed state: nothing left to move
        second.commit()
    with runtime.Session() as s:
        kept = _counters(s)
        st.rebuild_statistics(s)
        s.flush()
        rebuilt = _counters(s)
        s.rollback()
    assert kept == rebuilt
    assert ("destination", st.REGISTERED) in {(c[3], c[4]) for c in kept}
