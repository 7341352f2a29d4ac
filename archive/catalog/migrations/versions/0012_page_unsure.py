"""pages: the spans of text read under the review threshold (marked on the review page)

Revision ID: 0012
Revises: 0010
"""

from alembic import op
import sqlalchemy as sa


revision = '0012'
down_revision = '0010'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('page', schema=None) as batch_op:
        batch_op.add_column(sa.Column('unsure', sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('page', schema=None) as batch_op:
        batch_op.drop_column('unsure')
