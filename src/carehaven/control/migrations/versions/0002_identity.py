"""Identity: linkage runs and the review queue of uncertain pairs

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-21 10:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "link_runs",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(length=100), nullable=False),
        sa.Column("engine", sa.String(length=20), nullable=False),
        sa.Column("records", sa.BigInteger(), nullable=False),
        sa.Column("profiles", sa.BigInteger(), nullable=False),
        sa.Column("people", sa.BigInteger(), nullable=False),
        sa.Column("merged_by_rule", sa.BigInteger(), nullable=False),
        sa.Column("merged_by_model", sa.BigInteger(), nullable=False),
        sa.Column("merged_by_decision", sa.BigInteger(), nullable=False),
        sa.Column("waiting_review", sa.BigInteger(), nullable=False),
        sa.Column("summary", sa.JSON(), nullable=False),
        sa.Column("model", sa.JSON(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "link_pairs",
        sa.Column("id", sa.String(length=20), nullable=False),
        sa.Column("left_profile", sa.String(length=32), nullable=False),
        sa.Column("right_profile", sa.String(length=32), nullable=False),
        sa.Column("probability", sa.Float(), nullable=False),
        sa.Column("evidence", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("first_run", sa.Integer(), nullable=False),
        sa.Column("last_run", sa.Integer(), nullable=False),
        sa.Column("decision", sa.String(length=20), nullable=True),
        sa.Column("decided_by", sa.String(length=100), nullable=True),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "status IN ('waiting', 'decided', 'withdrawn')", name="ck_link_pair_status"
        ),
        sa.CheckConstraint(
            "decision IS NULL OR decision IN ('same', 'different')",
            name="ck_link_pair_decision",
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_link_pairs_status", "link_pairs", ["status"])


def downgrade() -> None:
    op.drop_index("ix_link_pairs_status", table_name="link_pairs")
    op.drop_table("link_pairs")
    op.drop_table("link_runs")
