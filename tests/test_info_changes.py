"""CNF-5 / VER-6: every change of a confirmed graduate's destination, archive or hukou info asks for
confirmation again, in the same step as the change."""
from __future__ import annotations

from sqlalchemy import select

from core.db import utcnow
from domain.models import Confirmation, Graduate
from tests.conftest import open_items, with_proof


def _confirmed(step, graduate_id):
    step(lambda s: s.add(Confirmation(graduate_id=graduate_id, status="confirmed", confirmed_at=utcnow(),
                                      error_parts={}, changed_parts=[])))


def _state(runtime, graduate_id):
    with runtime.Session() as s:
        row = s.get(Confirmation, graduate_id)
        return row.status, row.changed_parts


def test_voiding_a_confirmed_destination_asks_for_confirmation_again(runtime, world, make_graduate, step, actor):
    # rules CNF-5, VER-6, DST-3
    from processes.destination import services as filing
    from processes.review import services as reviews

    grad = make_graduate("g1")
    g = actor("g1")
    inst = step(lambda s: filing.start_filing(s, runtime.runner, g, s.get(Graduate, grad.id),
                                              with_proof(s, grad.id)))
    for who, role in (("dept_info", "Department"), ("school", "School")):
        a, item = actor(who), open_items(runtime, inst.id, role)[0]
        step(lambda s, a=a, item=item: reviews.review(s, runtime.runner, a, item.id, "approve", ""))
    _confirmed(step, grad.id)
    step(lambda s: filing.void(s, runtime.runner, g, inst.id))
    assert _state(runtime, grad.id) == ("reconfirm", ["destination"])


def test_archive_info_from_a_signed_agreement_asks_for_confirmation_again(runtime, world, make_graduate,
                                                                          make_employer, step, actor):
    # rules CNF-5, ONL-7, ARC-7
    from processes.agreements import services as signing
    from tests.conftest import TERMS

    grad = make_graduate("g1")
    make_employer("hr")
    with runtime.Session() as s:  # the school has the archive module open
        school = s.get(type(world.school), world.school.id)
        school.province.enabled_modules = sorted({*school.province.enabled_modules, "archive"})
        school.open_modules = sorted({*school.open_modules, "archive"})
        s.commit()
    hr, g = actor("hr"), actor("g1")
    inst = step(lambda s: signing.invite(s, runtime.runner, hr, grad.id, {**TERMS, "archive_unit": "厦门人才中心"}, 7))
    step(lambda s: signing.answer_invitation(s, runtime.runner, g, inst.id, "accept"))
    _confirmed(step, grad.id)
    from processes.review import services as reviews

    for who, role in (("dept_info", "Department"), ("school", "School")):
        a, item = actor(who), open_items(runtime, inst.id, role)[0]
        step(lambda s, a=a, item=item: reviews.review(s, runtime.runner, a, item.id, "approve", ""))
    status, parts = _state(runtime, grad.id)
    assert status == "reconfirm" and parts == ["archive", "destination"]
    from domain.models import RegisteredInfo

    with runtime.Session() as s:
        rows = list(s.scalars(select(RegisteredInfo).where(RegisteredInfo.graduate_id == grad.id)))
        assert [(r.kind, r.active, r.fields.get("archive_unit")) for r in rows] == [("archive", True, "厦门人才中心")]
