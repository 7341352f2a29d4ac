"""changes only an archivist may make: held, pending, until approved or refused

Revision ID: 0006
Revises: 0011
"""

from alembic import op
import sqlalchemy as sa
import sqlmodel


revision = '0006'
down_revision = '0011'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('casechange',
    sa.Column('id', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('case_number', sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
    sa.Column('kind', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('document_path', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('old', sa.JSON(), nullable=True),
    sa.Column('new', sa.JSON(), nullable=True),
    sa.Column('batch_id', sqlmodel.sql.sqltypes.AutoString(length=128), nullable=False),
    sa.Column('station_id', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('status', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('created_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.Column('decided_by', sqlmodel.sql.sqltypes.AutoString(length=128), nullable=True),
    sa.Column('decided_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
    sa.Column('reason', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('version', sa.Integer(), nullable=True),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('casechange', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_casechange_case_number'), ['case_number'], unique=False)
        batch_op.create_index(batch_op.f('ix_casechange_status'), ['status'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('casechange', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_casechange_status'))
        batch_op.drop_index(batch_op.f('ix_casechange_case_number'))
    op.drop_table('casechange')
