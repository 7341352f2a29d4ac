"""a lawyer's licence number on each reading request

Revision ID: 0003
Revises: 0002
"""

from alembic import op
import sqlalchemy as sa
import sqlmodel


revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('disseminationrequest', schema=None) as batch_op:
        batch_op.add_column(sa.Column('licence_number', sqlmodel.sql.sqltypes.AutoString(length=64),
                                      nullable=False, server_default=''))


def downgrade() -> None:
    with op.batch_alter_table('disseminationrequest', schema=None) as batch_op:
        batch_op.drop_column('licence_number')
