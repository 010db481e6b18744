"""The control plane's schema version, importable without SQLAlchemy or Alembic."""

#: The newest migration. Checked against the migration scripts by a test, so that opening a
#: haven needs one query rather than Alembic and every script (most of a command's start-up).
HEAD = "0010"
