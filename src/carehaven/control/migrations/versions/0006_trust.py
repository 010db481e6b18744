"""Trust: the haven's key id, signed audit checkpoints, credentials, artefacts with one lineage,
row scopes and processor contracts on agreements, held provider feedback

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02 06:00:00
"""

import json

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

_BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_WHEN = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "haven_meta",
        sa.Column("name", sa.String(length=60), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("name"),
    )
    op.create_table(
        "audit_checkpoints",
        sa.Column("id", _BIG_ID, autoincrement=True, nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("root", sa.String(length=64), nullable=False),
        sa.Column("signed_at", sa.String(length=32), nullable=False),
        sa.Column("key_id", sa.String(length=40), nullable=False),
        sa.Column("signature", sa.Text(), nullable=False),
        sa.Column("created_by", sa.String(length=100), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "access_tokens",
        sa.Column("id", sa.String(length=24), nullable=False),
        sa.Column("username", sa.String(length=100), nullable=False),
        sa.Column("secret_hash", sa.Text(), nullable=False),
        sa.Column("label", sa.String(length=100), nullable=False),
        sa.Column("created_at", _WHEN, nullable=False),
        sa.Column("expires_at", _WHEN, nullable=True),
        sa.Column("revoked_at", _WHEN, nullable=True),
        sa.Column("last_used_at", _WHEN, nullable=True),
        sa.ForeignKeyConstraint(["username"], ["users.username"]),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("access_tokens", schema=None) as batch_op:
        batch_op.create_index("ix_access_tokens_username", ["username"], unique=False)
    op.create_table(
        "artefacts",
        sa.Column("id", _BIG_ID, autoincrement=True, nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("tier", sa.String(length=20), nullable=False),
        sa.Column("recipient", sa.String(length=40), nullable=True),
        sa.Column("directory", sa.Text(), nullable=False),
        sa.Column("files", sa.JSON(), nullable=False),
        sa.Column("rows", sa.BigInteger(), nullable=False),
        sa.Column("people", sa.BigInteger(), nullable=False),
        sa.Column("checkpoint_id", _BIG_ID, nullable=True),
        sa.Column("staging", sa.Text(), nullable=True),
        sa.Column("created_at", _WHEN, nullable=False),
        sa.Column("created_by", sa.String(length=100), nullable=False),
        sa.CheckConstraint(
            "kind IN ('release', 'publication', 'feedback', 'preview', 'exchange', "
            "'certificate')",
            name="ck_artefact_kind",
        ),
        sa.ForeignKeyConstraint(["checkpoint_id"], ["audit_checkpoints.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "artefact_people",
        sa.Column("artefact_id", _BIG_ID, nullable=False),
        sa.Column("person_id", sa.String(length=40), nullable=False),
        sa.ForeignKeyConstraint(["artefact_id"], ["artefacts.id"]),
        sa.PrimaryKeyConstraint("artefact_id", "person_id"),
    )
    with op.batch_alter_table("artefact_people", schema=None) as batch_op:
        batch_op.create_index("ix_artefact_people_person", ["person_id"], unique=False)
    op.create_table(
        "feedback_holds",
        sa.Column("id", _BIG_ID, autoincrement=True, nullable=False),
        sa.Column("org_code", sa.String(length=20), nullable=False),
        sa.Column("person_id", sa.String(length=40), nullable=False),
        sa.Column("other_org", sa.String(length=20), nullable=False),
        sa.Column("evidence", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("reason", sa.String(length=40), nullable=False),
        sa.Column("link_run", sa.Integer(), nullable=False),
        sa.Column("created_at", _WHEN, nullable=False),
        sa.Column("decided_by", sa.String(length=100), nullable=True),
        sa.Column("decided_at", _WHEN, nullable=True),
        sa.CheckConstraint(
            "status IN ('waiting', 'released', 'refused')", name="ck_feedback_hold_status"
        ),
        sa.ForeignKeyConstraint(["org_code"], ["organisations.code"]),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("feedback_holds", schema=None) as batch_op:
        batch_op.create_index(
            "ix_feedback_holds_slot", ["org_code", "person_id", "other_org"], unique=True
        )
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.add_column(sa.Column("password_hash", sa.Text(), nullable=True))
    with op.batch_alter_table("recipients", schema=None) as batch_op:
        batch_op.add_column(sa.Column("org_code", sa.String(length=20), nullable=True))
    with op.batch_alter_table("agreements", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("row_scope", sa.JSON(), nullable=False, server_default="{}")
        )
        batch_op.add_column(sa.Column("contract_ref", sa.String(length=60), nullable=True))
    with op.batch_alter_table("releases", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("row_scope", sa.JSON(), nullable=False, server_default="{}")
        )
        batch_op.add_column(sa.Column("artefact_id", _BIG_ID, nullable=True))
        batch_op.create_foreign_key("fk_releases_artefact", "artefacts", ["artefact_id"], ["id"])
    for table in ("extracts", "publications"):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.add_column(sa.Column("artefact_id", _BIG_ID, nullable=True))
            batch_op.create_foreign_key(
                f"fk_{table}_artefact", "artefacts", ["artefact_id"], ["id"]
            )
    _adopt_key_id()


def _adopt_key_id() -> None:
    """An existing haven's master key id is the one its first audit entry recorded at init."""
    bind = op.get_bind()
    first = bind.execute(
        sa.text("SELECT details FROM audit_log WHERE action = 'haven.initialised' ORDER BY seq")
    ).first()
    if first is None:
        return  # a new haven: init records it
    key_id = json.loads(first[0]).get("key_id")
    if key_id:
        bind.execute(
            sa.text("INSERT INTO haven_meta (name, value) VALUES ('master_key_id', :v)"),
            {"v": key_id},
        )


def downgrade() -> None:
    for table in ("extracts", "publications"):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_constraint(f"fk_{table}_artefact", type_="foreignkey")
            batch_op.drop_column("artefact_id")
    with op.batch_alter_table("releases", schema=None) as batch_op:
        batch_op.drop_constraint("fk_releases_artefact", type_="foreignkey")
        batch_op.drop_column("artefact_id")
        batch_op.drop_column("row_scope")
    with op.batch_alter_table("agreements", schema=None) as batch_op:
        batch_op.drop_column("contract_ref")
        batch_op.drop_column("row_scope")
    with op.batch_alter_table("recipients", schema=None) as batch_op:
        batch_op.drop_column("org_code")
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.drop_column("password_hash")
    with op.batch_alter_table("feedback_holds", schema=None) as batch_op:
        batch_op.drop_index("ix_feedback_holds_slot")
    op.drop_table("feedback_holds")
    with op.batch_alter_table("artefact_people", schema=None) as batch_op:
        batch_op.drop_index("ix_artefact_people_person")
    op.drop_table("artefact_people")
    op.drop_table("artefacts")
    with op.batch_alter_table("access_tokens", schema=None) as batch_op:
        batch_op.drop_index("ix_access_tokens_username")
    op.drop_table("access_tokens")
    op.drop_table("audit_checkpoints")
    op.drop_table("haven_meta")
