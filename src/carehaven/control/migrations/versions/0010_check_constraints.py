"""Check constraints on every column that holds one of a fixed set of values: the tiers of
extracts, agreements, releases and artefacts; a release's status and decision; a recipient's
kind; a role grant's role; a feedback hold's reason (issue 14 part 0)

A haven whose rows already hold a value outside a set is refused, naming the table, the column
and the values found: nothing is rewritten, because no mapping of an unknown value is safe (a
tier in particular decides what data a recipient may hold). Correct the rows, then migrate again.

The values are frozen here as they stood at this revision (control.kinds holds today's); a
later change to a set is a later migration.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-10 09:00:00
"""

from alembic import op
from sqlalchemy import text

from carehaven.errors import ConfigurationError

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

_TIERS = ("personal", "de-personalised", "anonymised", "aggregate")

#: table: [(constraint, column, the values allowed)]
_CHECKS: dict[str, list[tuple[str, str, tuple[str, ...]]]] = {
    "recipients": [
        ("ck_recipient_kind", "kind", ("processor", "research", "government",
                                       "local-authority", "partner", "police", "court",
                                       "public")),
    ],
    "agreements": [("ck_agreement_tier", "tier", _TIERS)],
    "artefacts": [("ck_artefact_tier", "tier", _TIERS)],
    "extracts": [("ck_extract_tier", "tier", _TIERS)],
    "releases": [
        ("ck_release_tier", "tier", _TIERS),
        ("ck_release_status", "status", ("proposed", "denied", "written")),
        ("ck_release_decision", "decision", ("allow", "deny")),
    ],
    "role_grants": [
        ("ck_role_grant_role", "role", ("submitter", "data-team", "ips-team", "analyst",
                                        "authority-viewer", "auditor")),
    ],
    "feedback_holds": [("ck_feedback_hold_reason", "reason", ("new-match",))],
}


def _one_of(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN (" + ", ".join(f"'{v}'" for v in values) + ")"


def _refuse_strays() -> None:
    """Every value outside its set, found before anything changes (a migration that failed
    half-way on SQLite would leave nothing half-applied, but the database's own error would
    not say which rows are at fault)."""
    conn = op.get_bind()
    strays = []
    for table, checks in _CHECKS.items():
        for _name, column, values in checks:
            # The names and values above, never input.
            query = (f"SELECT {column}, COUNT(*) FROM {table} "  # noqa: S608
                     f"WHERE {column} IS NULL OR NOT ({_one_of(column, values)}) "
                     f"GROUP BY {column} ORDER BY {column}")
            found = conn.execute(text(query)).all()
            strays += [f"{table}.{column} holds {v!r} in {n} row(s)" for v, n in found]
    if strays:
        raise ConfigurationError(
            "The control database cannot take its check constraints (migration 0010): "
            + "; ".join(strays)
            + ". Correct those rows to values carehaven.control.kinds names "
            "(docs/design/0015-control-plane-read-path.md), then open the haven again."
        )


def upgrade() -> None:
    _refuse_strays()
    for table, checks in _CHECKS.items():
        with op.batch_alter_table(table, schema=None) as batch_op:
            for name, column, values in checks:
                batch_op.create_check_constraint(name, _one_of(column, values))


def downgrade() -> None:
    for table, checks in _CHECKS.items():
        with op.batch_alter_table(table, schema=None) as batch_op:
            for name, _column, _values in checks:
                batch_op.drop_constraint(name, type_="check")
