"""Shared fixtures: havens on SQLite and on the real PostgreSQL server, and small returns."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings
from sqlalchemy import create_engine, text

from carehaven.config import Settings
from carehaven.haven import Haven, init_haven

settings.register_profile("ci", derandomize=True, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("dev", deadline=None)
settings.register_profile("long", max_examples=2000, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci" if os.environ.get("CI") else "dev"))

PG_ADMIN_URL = os.environ.get(
    "CAREHAVEN_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)


def pg_available() -> bool:
    try:
        with create_engine(PG_ADMIN_URL).connect() as conn:
            conn.execute(text("SELECT 1"))
        return True
    except Exception:
        return False


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A fresh, empty PostgreSQL database on the real server, dropped afterwards."""
    if not pg_available():
        if os.environ.get("CI"):
            pytest.fail("PostgreSQL on 127.0.0.1:5432 is required in CI")
        pytest.skip("PostgreSQL is not running on 127.0.0.1:5432")
    name = "carehaven_t_" + uuid.uuid4().hex[:12]
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield PG_ADMIN_URL.rsplit("/", 1)[0] + "/" + name
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def control_backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def make_haven(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[object]:
    """A factory: ``make_haven(backend="sqlite", orgs=[...])`` returns an initialised haven."""
    made: list[Haven] = []

    def factory(backend: str = "sqlite", orgs: tuple[tuple[str, str, str], ...] = (
            ("P001", "treatment-service", "Riverside Recovery"),)) -> Haven:
        url = request.getfixturevalue("pg_url") if backend == "postgres" else None
        root = tmp_path / f"haven-{len(made)}"
        haven = init_haven(Settings.load(haven=root, control_url=url), actor="test")
        for code, kind, name in orgs:
            haven.add_organisation(code, kind, name, actor="test")
        made.append(haven)
        return haven

    yield factory
    for haven in made:
        haven.close()


@pytest.fixture
def haven(make_haven) -> Haven:  # type: ignore[no-untyped-def]
    return make_haven()  # type: ignore[no-any-return]
