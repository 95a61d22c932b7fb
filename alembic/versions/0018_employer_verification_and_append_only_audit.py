"""employer registration with verification, credit-code disputes, append-only audit tables (issue 12)

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-02 17:00:00

The audit tables (audit_event, setting_change, access_log) get triggers that refuse UPDATE and DELETE
(and TRUNCATE on PostgreSQL) unless the same transaction holds a row in audit_maintenance, which only
the owner role may write (docs/BACKUP.md: the application role has INSERT/SELECT only).
"""
import sqlalchemy as sa

from alembic import op

revision = '0018'
down_revision = '0017'
branch_labels = None
depends_on = None

AUDIT_TABLES = ('audit_event', 'setting_change', 'access_log')

PG_FUNCTION = """
CREATE OR REPLACE FUNCTION gradflow_append_only() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path FROM CURRENT AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM audit_maintenance) THEN
        IF TG_OP = 'DELETE' THEN RETURN OLD; END IF;
        RETURN NEW;
    END IF;
    RAISE EXCEPTION '% is append-only: % refused', TG_TABLE_NAME, TG_OP USING ERRCODE = 'insufficient_privilege';
END $$
"""


def upgrade() -> None:
    op.create_table(
        'employer_registration',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('token', sa.String(length=64), nullable=False),
        sa.Column('fields', sa.JSON(), nullable=False),
        sa.Column('username', sa.String(length=50), nullable=False),
        sa.Column('password_hash', sa.String(length=255), nullable=False),
        sa.Column('channel', sa.String(length=10), nullable=False),
        sa.Column('target', sa.String(length=100), nullable=False),
        sa.Column('code_hash', sa.String(length=64), nullable=False),
        sa.Column('code_expires_at', sa.DateTime(), nullable=False),
        sa.Column('code_sent_at', sa.DateTime(), nullable=False),
        sa.Column('codes_sent', sa.Integer(), nullable=False),
        sa.Column('attempts', sa.Integer(), nullable=False),
        sa.Column('verified_at', sa.DateTime(), nullable=True),
        sa.Column('employer_id', sa.Integer(), nullable=True),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(['employer_id'], ['employer.id'],
                                name=op.f('fk_employer_registration_employer_id_employer')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_employer_registration')),
        sa.UniqueConstraint('token', name=op.f('uq_employer_registration_token')),
    )
    with op.batch_alter_table('employer_registration', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_employer_registration_created_at'), ['created_at'], unique=False)
    op.create_table(
        'credit_code_dispute',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('registration_id', sa.Integer(), nullable=False),
        sa.Column('credit_code', sa.String(length=18), nullable=False),
        sa.Column('holder_employer_id', sa.Integer(), nullable=False),
        sa.Column('reason', sa.String(length=500), nullable=False),
        sa.Column('status', sa.String(length=10), nullable=False),
        sa.Column('decided_by', sa.Integer(), nullable=True),
        sa.Column('decided_at', sa.DateTime(), nullable=True),
        sa.Column('decision_note', sa.String(length=200), nullable=True),
        sa.Column('new_employer_id', sa.Integer(), nullable=True),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(['holder_employer_id'], ['employer.id'],
                                name=op.f('fk_credit_code_dispute_holder_employer_id_employer')),
        sa.ForeignKeyConstraint(['new_employer_id'], ['employer.id'],
                                name=op.f('fk_credit_code_dispute_new_employer_id_employer')),
        sa.ForeignKeyConstraint(['registration_id'], ['employer_registration.id'],
                                name=op.f('fk_credit_code_dispute_registration_id_employer_registration')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_credit_code_dispute')),
        sa.UniqueConstraint('registration_id', name=op.f('uq_credit_code_dispute_registration_id')),
    )
    with op.batch_alter_table('credit_code_dispute', schema=None) as batch_op:
        batch_op.create_index('ix_credit_code_dispute_status', ['status', 'id'], unique=False)
    op.create_table(
        'audit_maintenance',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('reason', sa.String(length=100), nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_audit_maintenance')),
    )
    if op.get_bind().dialect.name == 'postgresql':
        op.execute(PG_FUNCTION)
        for table in AUDIT_TABLES:
            op.execute(f'CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} '
                       'FOR EACH ROW EXECUTE FUNCTION gradflow_append_only()')
            op.execute(f'CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} '
                       'FOR EACH STATEMENT EXECUTE FUNCTION gradflow_append_only()')
    else:
        for table in AUDIT_TABLES:
            for event in ('UPDATE', 'DELETE'):
                op.execute(f"CREATE TRIGGER {table}_no_{event.lower()} BEFORE {event} ON {table} "
                           "WHEN NOT EXISTS (SELECT 1 FROM audit_maintenance) "
                           f"BEGIN SELECT RAISE(ABORT, '{table} is append-only: {event} refused'); END")


def downgrade() -> None:
    if op.get_bind().dialect.name == 'postgresql':
        for table in AUDIT_TABLES:
            op.execute(f'DROP TRIGGER IF EXISTS {table}_append_only ON {table}')
            op.execute(f'DROP TRIGGER IF EXISTS {table}_no_truncate ON {table}')
        op.execute('DROP FUNCTION IF EXISTS gradflow_append_only()')
    else:
        for table in AUDIT_TABLES:
            for event in ('update', 'delete'):
                op.execute(f'DROP TRIGGER IF EXISTS {table}_no_{event}')
    op.drop_table('audit_maintenance')
    with op.batch_alter_table('credit_code_dispute', schema=None) as batch_op:
        batch_op.drop_index('ix_credit_code_dispute_status')
    op.drop_table('credit_code_dispute')
    with op.batch_alter_table('employer_registration', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_employer_registration_created_at'))
    op.drop_table('employer_registration')
