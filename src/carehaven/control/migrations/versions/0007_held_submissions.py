"""Held submissions: a resubmission that would retire markedly more than it brings waits for
confirmation (status held), and one refused is withdrawn (issue 13 item 2)

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-09 06:00:00
"""

from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

_NOW = "status IN ('accepted', 'rejected', 'held', 'withdrawn')"
_BEFORE = "status IN ('accepted', 'rejected')"


def upgrade() -> None:
    with op.batch_alter_table("submissions", schema=None) as batch_op:
        batch_op.drop_constraint("ck_submission_status", type_="check")
        batch_op.create_check_constraint("ck_submission_status", _NOW)


def downgrade() -> None:
    # A held or withdrawn submission was never in force: as rejected it stays out of force.
    op.execute("UPDATE submissions SET status = 'rejected' WHERE status IN ('held', 'withdrawn')")
    with op.batch_alter_table("submissions", schema=None) as batch_op:
        batch_op.drop_constraint("ck_submission_status", type_="check")
        batch_op.create_check_constraint("ck_submission_status", _BEFORE)
