"""Governance: recipients, agreements, releases, users and role grants, rendered notices

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-22 06:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

_BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_WHEN = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "recipients",
        sa.Column("code", sa.String(length=40), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("kind", sa.String(length=30), nullable=False),
        sa.Column("created_at", _WHEN, nullable=False),
        sa.Column("created_by", sa.String(length=100), nullable=False),
        sa.PrimaryKeyConstraint("code"),
    )
    op.create_table(
        "agreements",
        sa.Column("id", _BIG_ID, autoincrement=True, nullable=False),
        sa.Column("recipient", sa.String(length=40), nullable=False),
        sa.Column("tier", sa.String(length=20), nullable=False),
        sa.Column("fields", sa.JSON(), nullable=False),
        sa.Column("purposes", sa.JSON(), nullable=False),
        sa.Column("lawful_bases", sa.JSON(), nullable=False),
        sa.Column("starts_on", sa.Date(), nullable=False),
        sa.Column("expires_on", sa.Date(), nullable=False),
        sa.Column("uk_only", sa.Boolean(), nullable=False),
        sa.Column("onward_sharing", sa.Boolean(), nullable=False),
        sa.Column("sub_licensing", sa.Boolean(), nullable=False),
        sa.Column("no_reidentification_signed", sa.Boolean(), nullable=False),
        sa.Column("revoked_on", sa.Date(), nullable=True),
        sa.Column("created_at", _WHEN, nullable=False),
        sa.Column("created_by", sa.String(length=100), nullable=False),
        sa.ForeignKeyConstraint(["recipient"], ["recipients.code"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "releases",
        sa.Column("id", _BIG_ID, autoincrement=True, nullable=False),
        sa.Column("agreement_id", _BIG_ID, nullable=True),
        sa.Column("recipient", sa.String(length=40), nullable=False),
        sa.Column("dataset", sa.String(length=60), nullable=False),
        sa.Column("tier", sa.String(length=20), nullable=False),
        sa.Column("fields", sa.JSON(), nullable=False),
        sa.Column("purpose", sa.String(length=60), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("decision", sa.String(length=10), nullable=False),
        sa.Column("reasons", sa.JSON(), nullable=False),
        sa.Column("proposed_by", sa.String(length=100), nullable=False),
        sa.Column("proposed_at", _WHEN, nullable=False),
        sa.Column("approved_by", sa.String(length=100), nullable=True),
        sa.Column("approved_at", _WHEN, nullable=True),
        sa.Column("extract_id", _BIG_ID, nullable=True),
        sa.Column("directory", sa.Text(), nullable=True),
        sa.Column("files", sa.JSON(), nullable=False),
        sa.Column("manifest", sa.Text(), nullable=True),
        sa.Column("rows", sa.BigInteger(), nullable=False),
        sa.Column("people", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(["agreement_id"], ["agreements.id"]),
        sa.ForeignKeyConstraint(["recipient"], ["recipients.code"]),
        sa.ForeignKeyConstraint(["extract_id"], ["extracts.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "users",
        sa.Column("username", sa.String(length=100), nullable=False),
        sa.Column("display_name", sa.String(length=200), nullable=False),
        sa.Column("org_code", sa.String(length=20), nullable=True),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", _WHEN, nullable=False),
        sa.Column("created_by", sa.String(length=100), nullable=False),
        sa.ForeignKeyConstraint(["org_code"], ["organisations.code"]),
        sa.PrimaryKeyConstraint("username"),
    )
    op.create_table(
        "role_grants",
        sa.Column("id", _BIG_ID, autoincrement=True, nullable=False),
        sa.Column("username", sa.String(length=100), nullable=False),
        sa.Column("role", sa.String(length=30), nullable=False),
        sa.Column("org_code", sa.String(length=20), nullable=True),
        sa.Column("granted_at", _WHEN, nullable=False),
        sa.Column("granted_by", sa.String(length=100), nullable=False),
        sa.Column("last_used_at", _WHEN, nullable=True),
        sa.Column("revoked_at", _WHEN, nullable=True),
        sa.ForeignKeyConstraint(["username"], ["users.username"]),
        sa.ForeignKeyConstraint(["org_code"], ["organisations.code"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "notice_documents",
        sa.Column("collection", sa.String(length=40), nullable=False),
        sa.Column("version", sa.String(length=20), nullable=False),
        sa.Column("published_on", sa.Date(), nullable=False),
        sa.Column("content", sa.JSON(), nullable=False),
        sa.Column("change_note", sa.Text(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("created_at", _WHEN, nullable=False),
        sa.Column("created_by", sa.String(length=100), nullable=False),
        sa.PrimaryKeyConstraint("collection", "version"),
    )


def downgrade() -> None:
    for table in ("notice_documents", "role_grants", "users", "releases", "agreements",
                  "recipients"):
        op.drop_table(table)
