"""stations' registered certificates (signed station manifests)

Revision ID: 0008
Revises: 0007
"""

from alembic import op
import sqlalchemy as sa
import sqlmodel


revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'stationcertificate',
        sa.Column('fingerprint', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column('station_id', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column('subject', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column('pem', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column('not_after', sa.DateTime(), nullable=False),
        sa.Column('added_at', sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(['station_id'], ['station.id']),
        sa.PrimaryKeyConstraint('fingerprint', 'station_id'),
    )
    op.create_index('ix_stationcertificate_station_id', 'stationcertificate', ['station_id'])


def downgrade() -> None:
    op.drop_index('ix_stationcertificate_station_id', table_name='stationcertificate')
    op.drop_table('stationcertificate')
