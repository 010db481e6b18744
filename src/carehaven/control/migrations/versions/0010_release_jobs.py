"""Release approvals as jobs: the portal queues an approval, the worker writes the release
(it reads and writes the data plane, which only the one writer opens); a job of kind
'release' names its release and no organisation (issue 14)

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-05 10:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.add_column(sa.Column("release_label", sa.String(length=20), nullable=True))
        batch_op.alter_column("org_code", existing_type=sa.String(length=20), nullable=True)
        batch_op.drop_constraint("ck_job_kind", type_="check")
        batch_op.create_check_constraint("ck_job_kind", "kind IN ('submit', 'release')")


def downgrade() -> None:
    op.execute("DELETE FROM jobs WHERE kind = 'release'")
    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.drop_constraint("ck_job_kind", type_="check")
        batch_op.create_check_constraint("ck_job_kind", "kind IN ('submit')")
        batch_op.alter_column("org_code", existing_type=sa.String(length=20), nullable=False)
        batch_op.drop_column("release_label")
