"""The e-agreement of a signed agreement: rendered by the outbox job, cached, readable in scope."""
from __future__ import annotations

import shutil
import subprocess

import pytest
from sqlalchemy import func, select

from core.errors import Conflict, Forbidden
from domain import blobs
from domain.models import Agreement, AgreementDocument
from engine import outbox
from processes.agreements import pdf as agreement_pdf
from tests.conftest import require_service
from tests.processes.test_agreement_lifecycle import signed_online
from tests.processes.test_online_signing import agreement, invite


def test_signed_agreement_pdf_names_the_parties_position_and_number(runtime, world, make_graduate, make_employer,
                                                                    step, actor):
    # rules DOC-1, AGR-1, ONL-6
    if not shutil.which("pdftotext"):
        require_service("pdftotext", "poppler-utils is not installed")
    grad = make_graduate("g1", name="林小雨")
    make_employer("hr", name="厦门星海科技有限公司")
    a = signed_online(runtime, step, actor, "g1", grad)
    assert outbox.deliver_pending(runtime.Session, runtime.extensions.senders) >= 1  # the render job runs from the outbox
    with runtime.Session() as s:
        doc = s.scalar(select(AgreementDocument).where(AgreementDocument.agreement_id == a.id))
        assert doc is not None and doc.pdf is None  # issue 11: the bytes are in the blob store, not the row
        data = blobs.read(s, doc.storage_key)
        assert data.startswith(b"%PDF")
        text = subprocess.run(["pdftotext", "-layout", "-", "-"], input=data, capture_output=True,
                              check=True).stdout.decode("utf-8")
    for expected in ("林小雨", "厦门星海科技有限公司", "软件工程师", a.agreement_no):
        assert expected in text, expected
    # cached: delivering again renders nothing new
    with runtime.Session() as s:
        again = agreement_pdf.render_and_cache(s, a.id)
        s.commit()
        assert again.id == doc.id
        assert s.scalar(select(func.count()).select_from(AgreementDocument)) == 1


def test_in_production_the_deliverer_queues_the_render_instead_of_rendering(runtime, world, make_graduate,
                                                                            make_employer, step, actor):
    # rules DOC-1, ONL-6: with tasks not eager the approved agreement's render row becomes one
    # `gradflow.render_agreement` task (queue documents): the deliverer renders nothing, the task does
    from dataclasses import replace

    from gradflow.runtime import build_runtime

    grad = make_graduate("g1")
    make_employer("hr")
    a = signed_online(runtime, step, actor, "g1", grad)
    queued: list[tuple] = []
    prod = build_runtime(replace(runtime.settings, celery_eager=False), enqueue=lambda *args: queued.append(args))
    try:
        assert outbox.deliver_pending(prod.Session, prod.extensions.senders, limit=None) >= 1
    finally:
        prod.db.dispose()
    assert queued == [("gradflow.render_agreement", a.id)]
    with runtime.Session() as s:
        assert s.scalar(select(func.count()).select_from(AgreementDocument)) == 0
        agreement_pdf.render_and_cache(s, a.id)  # what the task runs
        s.commit()
        assert s.scalar(select(func.count()).select_from(AgreementDocument)) == 1
    assert runtime.extensions.senders["agreement.render_pdf"].enqueue is None  # the embedded runtime: inline


def test_pdf_is_readable_by_the_parties_and_reviewers_only(runtime, world, make_graduate, make_employer, step, actor):
    # rules DOC-1, ROLE-1
    grad = make_graduate("g1")
    make_graduate("g2")
    make_employer("hr")
    make_employer("hr2", name="别家公司")
    a = signed_online(runtime, step, actor, "g1", grad)
    with runtime.Session() as s:
        for user in ("g1", "hr", "dept_info", "school"):
            assert agreement_pdf.readable(s, actor(user), a.id).id == a.id
        for user in ("g2", "hr2", "dept_econ"):
            with pytest.raises(Forbidden):
                agreement_pdf.readable(s, actor(user), a.id)


def test_no_download_before_approval(runtime, world, make_graduate, make_employer, step, actor):
    # rule DOC-1
    grad = make_graduate("g1")
    make_employer("hr")
    inst = invite(runtime, step, actor, "hr", grad)
    a = agreement(runtime, inst.id)
    with runtime.Session() as s:
        with pytest.raises(Conflict):
            agreement_pdf.readable(s, actor("g1"), a.id)


def test_agreement_type_follows_the_province_setting(runtime, world, make_graduate, make_employer, step, actor):
    # rules MOD-3, DOC-1
    if not shutil.which("pdftotext"):
        require_service("pdftotext", "poppler-utils is not installed")
    step(lambda s: setattr(s.get(type(world.province), world.province.id), "agreement_type", "two_party"))
    grad = make_graduate("g1")
    make_employer("hr")
    a = signed_online(runtime, step, actor, "g1", grad)
    with runtime.Session() as s:
        assert s.get(Agreement, a.id).agreement_type == "two_party"
        doc = agreement_pdf.render_and_cache(s, a.id)
        s.commit()
        text = subprocess.run(["pdftotext", "-", "-"], input=blobs.read(s, doc.storage_key),
                              capture_output=True).stdout.decode()
    assert "丙方" not in text and "鉴证" in text


def test_with_render_on_download_signing_renders_nothing_and_the_first_download_does(runtime, world, make_graduate,
                                                                                     make_employer, step, actor):
    # rules DOC-1, ONL-6: GRADFLOW_RENDER_ON_DOWNLOAD keeps the ~130 ms render off the signing; the approved
    # agreement is still downloadable: the first download renders it (embedded) and the next one reads the cache
    from dataclasses import replace

    from gradflow.runtime import build_runtime
    from tests.test_api import token
    from webapp import create_app

    grad = make_graduate("g1")
    make_employer("hr")
    a = signed_online(runtime, step, actor, "g1", grad)
    queued: list[tuple] = []
    for eager in (False, True):  # production (a task queue) and the embedded default
        peak = build_runtime(replace(runtime.settings, render_on_download=True, celery_eager=eager),
                             enqueue=lambda *args: queued.append(args))
        try:
            assert peak.extensions.senders["agreement.render_pdf"].deferred
            outbox.deliver_pending(peak.Session, peak.extensions.senders, limit=None)
        finally:
            peak.db.dispose()
    assert queued == []  # nothing queued at signing
    with runtime.Session() as s:
        assert s.scalar(select(func.count()).select_from(AgreementDocument)) == 0
    assert not runtime.extensions.senders["agreement.render_pdf"].deferred  # the default renders at signing
    peak = build_runtime(replace(runtime.settings, render_on_download=True))
    try:
        client = create_app(peak, TESTING=True, WTF_CSRF_ENABLED=False).test_client()
        headers = token(client, "g1")
        first = client.get(f"/api/v1/agreements/{a.id}/pdf", headers=headers)
        assert first.status_code == 200 and first.data.startswith(b"%PDF")
        assert client.get(f"/api/v1/agreements/{a.id}/pdf", headers=headers).data == first.data
    finally:
        peak.db.dispose()
    with runtime.Session() as s:
        assert s.scalar(select(func.count()).select_from(AgreementDocument)) == 1  # rendered once, on demand
