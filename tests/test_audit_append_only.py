"""The audit log is append-only (issue 12, must-hold 6): the database itself refuses an UPDATE or DELETE of
audit_event, setting_change and access_log rows (triggers of migration 0018, on SQLite and PostgreSQL) and of
verification_lookup (0024),
whatever the application does; only a transaction holding an audit_maintenance row (which the
application's PostgreSQL role may not write, docs/BACKUP.md) gets through."""
from __future__ import annotations

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DatabaseError

from domain.models import AccessLog, SettingChange
from engine.models import AuditEvent, ProcessInstance
from processes.verification.models import VerificationLookup

CHANGES = {
    "audit_event": ("UPDATE audit_event SET reason = 'rewritten'", "DELETE FROM audit_event"),
    "setting_change": ("UPDATE setting_change SET reason = 'rewritten'", "DELETE FROM setting_change"),
    "access_log": ("UPDATE access_log SET reason = 'rewritten'", "DELETE FROM access_log"),
    "verification_lookup": ("UPDATE verification_lookup SET reason = 'rewritten'", "DELETE FROM verification_lookup"),
}


def _rows(runtime, world):
    from sqlalchemy import select

    from engine.models import ProcessVersion

    with runtime.Session() as s:
        version = s.scalars(select(ProcessVersion)).first()
        inst = ProcessInstance(version_id=version.id, process_id=version.process_id, business_key="audit-test",
                               status="running", status_label="测试", serialized="{}")
        s.add(inst)
        s.flush()
        s.add(AuditEvent(instance_id=inst.id, actor_name="测试", action="start"))
        s.add(SettingChange(actor_name="管理员", action="create_account", target="account", target_id=1))
        s.add(AccessLog(path="/x", reason="refused"))
        s.add(VerificationLookup(client="127.0.0.1", code_digest="0" * 64, via="page", outcome="none",
                                 reason="unknown"))
        s.commit()


@pytest.mark.parametrize("table", sorted(CHANGES))
def test_audit_rows_cannot_be_updated_or_deleted(runtime, world, table):
    # issue 12: audit is append-only (the application's database role cannot update or delete its rows)
    _rows(runtime, world)
    for statement in CHANGES[table]:
        with pytest.raises(DatabaseError, match="append-only"):
            with runtime.db.begin() as conn:
                conn.execute(text(statement))
    with runtime.db.connect() as conn:
        assert conn.execute(text(f"SELECT count(*) FROM {table} WHERE reason = 'rewritten'")).scalar() == 0
        assert conn.execute(text(f"SELECT count(*) FROM {table}")).scalar() == 1


def test_the_orm_cannot_rewrite_an_audit_event_either(runtime, world):
    # issue 12: append-only whatever path the application takes
    from sqlalchemy import select

    _rows(runtime, world)
    with runtime.Session() as s:
        event = s.scalar(select(AuditEvent))
        event.reason = "rewritten"
        with pytest.raises(DatabaseError, match="append-only"):
            s.commit()
        s.rollback()
        s.delete(s.scalar(select(AuditEvent)))
        with pytest.raises(DatabaseError, match="append-only"):
            s.commit()


def test_a_maintenance_transaction_may_purge_and_the_lock_comes_back(runtime, world):
    # issue 12: retention (and the test cleanup) unlock only inside their own transaction
    _rows(runtime, world)
    with runtime.db.begin() as conn:
        conn.execute(text("INSERT INTO audit_maintenance (reason) VALUES ('retention')"))
        conn.execute(text("DELETE FROM access_log"))
        conn.execute(text("DELETE FROM audit_maintenance"))
    with runtime.db.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM access_log")).scalar() == 0
    with pytest.raises(DatabaseError, match="append-only"):
        with runtime.db.begin() as conn:
            conn.execute(text("DELETE FROM setting_change"))


def test_postgresql_refuses_truncate_too(runtime, world):
    # issue 12: TRUNCATE fires no row trigger; a statement trigger refuses it
    if runtime.db.dialect.name != "postgresql":
        pytest.skip("TRUNCATE exists on PostgreSQL only")
    _rows(runtime, world)
    with pytest.raises(DatabaseError, match="append-only"):
        with runtime.db.begin() as conn:
            conn.execute(text("TRUNCATE audit_event"))


def test_every_log_table_is_append_only(runtime):
    # issue 12 must-hold 6: the list above names every append-only log the application writes
    from webapp.session import AUDIT_TABLES

    assert set(CHANGES) == set(AUDIT_TABLES)
    with runtime.db.connect() as conn:
        if runtime.db.dialect.name == "postgresql":
            found = {row[0] for row in conn.execute(text(
                "SELECT event_object_table FROM information_schema.triggers WHERE trigger_name LIKE '%append_only'"))}
        else:
            found = {row[0] for row in conn.execute(text(
                "SELECT tbl_name FROM sqlite_master WHERE type = 'trigger' AND name LIKE '%no_delete'"))}
    assert found == set(AUDIT_TABLES)
