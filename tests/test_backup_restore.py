"""Recovery (issue 12, must-hold 7): the backup of docs/BACKUP.md, restored into an empty database, lets a
running instance go on where it was — SQLite's online backup, or pg_dump / pg_restore on PostgreSQL."""
from __future__ import annotations

import shutil
import sqlite3
import subprocess
import uuid
from dataclasses import replace

import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import DatabaseError

from domain.accounts import actor_for
from domain.models import Account
from engine.models import AuditEvent, ProcessInstance
from processes.agreements import services as signing
from tests.conftest import TERMS, _drop_pg, _pg_database_url, backend


def _restore(runtime, tmp_path) -> str:
    """Back up the live database and restore it into an empty one; the restored database's URL."""
    url = runtime.settings.database_url
    if backend() == "sqlite":
        source = sqlite3.connect(url.removeprefix("sqlite:///"))
        target_path = tmp_path / "restored.sqlite3"
        target = sqlite3.connect(target_path)
        source.backup(target)  # what `sqlite3 db ".backup file"` does, online
        source.close()
        target.close()
        return f"sqlite:///{target_path}"
    if shutil.which("pg_dump") is None:
        pytest.skip("pg_dump not installed")
    plain = url.replace("postgresql+psycopg://", "postgresql://")
    dump = tmp_path / "gradflow.dump"
    subprocess.run(["pg_dump", "--format=custom", "--no-owner", f"--file={dump}", plain], check=True)
    restored = _pg_database_url(f"gradflow_restore_{uuid.uuid4().hex[:8]}")  # a new, empty database
    subprocess.run(["pg_restore", "--no-owner", "--exit-on-error",
                    f"--dbname={restored.replace('postgresql+psycopg://', 'postgresql://')}", str(dump)], check=True)
    return restored


def test_a_restored_database_lets_a_running_instance_go_on(runtime, world, make_graduate, make_employer, step,
                                                           actor, tmp_path):
    # issue 12 must-hold 7: backup and restore, tested; rule ONL-2 (the graduate answers the invitation)
    from gradflow.runtime import build_runtime

    grad = make_graduate("g1")
    make_employer("hr")
    inst = step(lambda s: signing.invite(s, runtime.runner, actor("hr"), grad.id, TERMS, 7))
    with runtime.Session() as s:
        before = s.get(ProcessInstance, inst.id).status_label
    url = _restore(runtime, tmp_path)
    restored = build_runtime(replace(runtime.settings, database_url=url))
    try:
        with restored.Session() as s:
            s.connection(execution_options={"sqlite_immediate": True})
            g1 = actor_for(s, s.scalar(select(Account).where(Account.username == "g1")))
            done = signing.answer_invitation(s, restored.runner, g1, inst.id, "accept")
            s.commit()
            after = done.status_label
            assert s.scalar(select(AuditEvent.action).where(AuditEvent.instance_id == inst.id)
                            .order_by(AuditEvent.id.desc()).limit(1)) is not None
        assert after != before  # it went on from the step it waited in
        with restored.db.connect() as conn:  # the append-only triggers came back with the schema
            with pytest.raises(DatabaseError, match="append-only"):
                with conn.begin():
                    conn.execute(text("DELETE FROM audit_event"))
        with runtime.Session() as s:  # the live database is untouched
            assert s.get(ProcessInstance, inst.id).status_label == before
    finally:
        restored.db.dispose()
        if backend() == "postgresql":
            _drop_pg(url.rsplit("/", 1)[1])
