"""The control plane: who, what, when and why, in SQLAlchemy 2 with Alembic migrations."""
