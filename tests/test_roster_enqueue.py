"""A graduate import uploaded while the broker is down is kept, says so, and continues later (issue 12)."""
from __future__ import annotations

import dataclasses

from kombu.exceptions import OperationalError

from domain.models import GraduateImportJob
from tests.roster_helpers import csv_bytes, good_row, job_id_of, upload
from webapp import create_app


def test_an_import_saved_while_the_broker_is_down_is_failed_clearly_and_resumes(runtime, world):
    # rule GRAD-1: the upload is never lost: no 500, the file waits, and 继续导入 runs it once a worker can
    calls: list[tuple] = []

    def broker_down(name, *args):
        calls.append((name, *args))
        raise OperationalError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")

    queued = dataclasses.replace(runtime, settings=dataclasses.replace(runtime.settings, celery_eager=False),
                                 enqueue=broker_down)
    app = create_app(queued, TESTING=True, WTF_CSRF_ENABLED=False)
    c = app.test_client()
    assert c.post("/login", data={"username": "school", "password": "demo1234"}).status_code == 302
    job_id = job_id_of(upload(c, csv_bytes([good_row(1), good_row(2)]), "graduates.csv"))
    assert calls == [("gradflow.import_graduates", job_id)]
    with runtime.Session() as s:
        job = s.get(GraduateImportJob, job_id)
        assert job.status == "failed" and "继续导入" in job.message and job.data is not None
    page = c.get(f"/school/graduates/import/{job_id}").get_data(as_text=True)
    assert "后台任务队列暂时不可用" in page and 'id="resume-job"' in page
    # the worker is back: 继续导入 enqueues it again
    calls.clear()
    queued.enqueue = lambda name, *args: calls.append((name, *args))
    assert c.post(f"/school/graduates/import/{job_id}/resume").status_code == 302
    assert calls == [("gradflow.import_graduates", job_id)]
    with runtime.Session() as s:
        assert s.get(GraduateImportJob, job_id).status == "running"
