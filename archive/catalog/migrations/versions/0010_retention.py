"""retention and disposal: 生效日期 on cases, appraisals, legal holds, tombstones

Revision ID: 0010
Revises: 0008
"""

from alembic import op
import sqlalchemy as sa
import sqlmodel


revision = '0010'
down_revision = '0008'
branch_labels = None
depends_on = None

_str = sqlmodel.sql.sqltypes.AutoString


def upgrade() -> None:
    with op.batch_alter_table('case', schema=None) as batch_op:
        batch_op.add_column(sa.Column('effective_date', sa.Date(), nullable=True))
    op.create_table(
        'appraisal',
        sa.Column('id', _str(length=64), primary_key=True),
        sa.Column('case_number', _str(length=100), sa.ForeignKey('case.case_number'), nullable=False, index=True),
        sa.Column('decision', _str(length=16), nullable=False),
        sa.Column('keep_years', sa.Integer(), nullable=True),
        sa.Column('reason', _str(), nullable=False),
        sa.Column('appraised_by', _str(length=128), nullable=False),
        sa.Column('appraised_at', sa.DateTime(), nullable=False),
        sa.Column('status', _str(length=16), nullable=False, index=True),
        sa.Column('approved_by', _str(length=128), nullable=True),
        sa.Column('approved_at', sa.DateTime(), nullable=True),
    )
    op.create_table(
        'legalhold',
        sa.Column('id', _str(length=64), primary_key=True),
        sa.Column('case_number', _str(length=100), sa.ForeignKey('case.case_number'), nullable=False, index=True),
        sa.Column('reason', _str(), nullable=False),
        sa.Column('placed_by', _str(length=128), nullable=False),
        sa.Column('placed_at', sa.DateTime(), nullable=False),
        sa.Column('released_by', _str(length=128), nullable=True),
        sa.Column('released_at', sa.DateTime(), nullable=True),
    )
    op.create_table(
        'tombstone',
        sa.Column('aip_id', _str(length=64), primary_key=True),
        sa.Column('case_number', _str(length=100), nullable=False, index=True),
        sa.Column('archival_code', _str(length=100), nullable=True),
        sa.Column('appraisal_id', _str(length=64), nullable=False),
        sa.Column('disposed_at', sa.DateTime(), nullable=False),
        sa.Column('body', _str(), nullable=False),
        sa.Column('signature', _str(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table('tombstone')
    op.drop_table('legalhold')
    op.drop_table('appraisal')
    with op.batch_alter_table('case', schema=None) as batch_op:
        batch_op.drop_column('effective_date')
