"""the requester's ID as a keyed hash and the request's creator; the catalog's record of each
signed preservation-log head

Rows made before this revision keep only the masked ID (the whole ID was never stored, so no
hash can be computed): their download link needs an archivist (E518), and their creator is
unknown (no four-eyes check is possible for them).

Revision ID: 0007
Revises: 0005
"""

from alembic import op
import sqlalchemy as sa
import sqlmodel


revision = '0007'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('disseminationrequest', schema=None) as batch_op:
        batch_op.add_column(sa.Column('requester_id_hmac', sqlmodel.sql.sqltypes.AutoString(length=64),
                                      nullable=True))
        batch_op.add_column(sa.Column('created_by', sqlmodel.sql.sqltypes.AutoString(length=128),
                                      nullable=True))
    op.create_table(
        'loghead',
        sa.Column('day', sqlmodel.sql.sqltypes.AutoString(length=10), nullable=False),
        sa.Column('seq', sa.Integer(), nullable=False),
        sa.Column('digest', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column('signed_at', sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint('day'))


def downgrade() -> None:
    op.drop_table('loghead')
    with op.batch_alter_table('disseminationrequest', schema=None) as batch_op:
        batch_op.drop_column('created_by')
        batch_op.drop_column('requester_id_hmac')
