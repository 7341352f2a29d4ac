"""the identity of each storage root the catalog describes

Revision ID: 0005
Revises: 0006
"""

from alembic import op
import sqlalchemy as sa
import sqlmodel


revision = '0005'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('storageroot',
    sa.Column('role', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.Column('root_id', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('first_path', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('recorded_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('role')
    )


def downgrade() -> None:
    op.drop_table('storageroot')
