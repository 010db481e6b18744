"""Organisations of kind young-peoples-service: a young people's substance misuse service
returns NDTMS episodes with the vulnerabilities only it records (issue 13 item 6)

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-12 09:00:00
"""

from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

_BEFORE = (
    "'treatment-service', 'local-authority', 'criminal-justice-team', 'prison', "
    "'secure-setting', 'partner', 'recipient'"
)
_NOW = "kind IN (" + _BEFORE + ", 'young-peoples-service')"


def upgrade() -> None:
    with op.batch_alter_table("organisations", schema=None) as batch_op:
        batch_op.drop_constraint("ck_org_kind", type_="check")
        batch_op.create_check_constraint("ck_org_kind", _NOW)


def downgrade() -> None:
    # A young people's service was a treatment service before the kind existed.
    op.execute(
        "UPDATE organisations SET kind = 'treatment-service' "
        "WHERE kind = 'young-peoples-service'"
    )
    with op.batch_alter_table("organisations", schema=None) as batch_op:
        batch_op.drop_constraint("ck_org_kind", type_="check")
        batch_op.create_check_constraint("ck_org_kind", "kind IN (" + _BEFORE + ")")
