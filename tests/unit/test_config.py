"""Settings: prefix CAREHAVEN_, passed in explicitly, default secret refused outside development."""

from pathlib import Path

import pytest

from carehaven.config import Settings
from carehaven.errors import ConfigurationError


def test_defaults_are_for_development(monkeypatch):
    for key in ("CAREHAVEN_HAVEN", "CAREHAVEN_ENVIRONMENT", "CAREHAVEN_SECRET_KEY"):
        monkeypatch.delenv(key, raising=False)
    s = Settings.load()
    assert s.environment == "development" and s.haven == Path("./haven")


def test_environment_variables_are_read(monkeypatch):
    monkeypatch.setenv("CAREHAVEN_HAVEN", "/tmp/x")
    monkeypatch.setenv("CAREHAVEN_MAX_FILE_MB", "7")
    s = Settings.load()
    assert s.haven == Path("/tmp/x") and s.max_file_mb == 7
    assert Settings.load(haven=Path("/tmp/y")).haven == Path("/tmp/y")  # explicit wins


@pytest.mark.parametrize("env", ["test", "production"])
def test_the_default_secret_is_refused_outside_development(monkeypatch, env):
    monkeypatch.delenv("CAREHAVEN_SECRET_KEY", raising=False)
    monkeypatch.setenv("CAREHAVEN_ENVIRONMENT", env)
    with pytest.raises(ConfigurationError, match="CAREHAVEN_SECRET_KEY must be set"):
        Settings.load()


def test_production_needs_a_master_key_from_outside_the_haven(monkeypatch):
    monkeypatch.setenv("CAREHAVEN_ENVIRONMENT", "production")
    monkeypatch.setenv("CAREHAVEN_SECRET_KEY", "s3cret-for-this-test")
    monkeypatch.delenv("CAREHAVEN_MASTER_KEY", raising=False)
    with pytest.raises(ConfigurationError, match="MASTER_KEY"):
        Settings.load()


def test_a_bad_value_is_one_sentence(monkeypatch):
    monkeypatch.setenv("CAREHAVEN_MAX_FILE_MB", "lots")
    with pytest.raises(ConfigurationError, match="max_file_mb"):
        Settings.load()


def test_every_setting_is_described_and_documented():
    doc = (Path(__file__).parents[2] / "docs" / "settings.md").read_text()
    for name, description in Settings.described().items():
        assert description, name
        assert f"CAREHAVEN_{name.upper()}" in doc, name


def test_the_review_band_must_sit_below_the_accept_threshold() -> None:
    import pytest

    from carehaven.config import Settings
    from carehaven.errors import ConfigurationError

    with pytest.raises(ConfigurationError, match="LINK_REVIEW"):
        Settings.load(link_accept=0.7, link_review=0.8)
    assert Settings.load(link_accept=0.8, link_review=0.8).link_review == 0.8


def test_a_bound_and_a_choice_are_checked_from_the_environment(monkeypatch):
    monkeypatch.setenv("CAREHAVEN_SUPERSEDE_HOLD_SHARE", "1.5")
    with pytest.raises(ConfigurationError, match=r"supersede_hold_share: .*less than or equal"):
        Settings.load()
    monkeypatch.delenv("CAREHAVEN_SUPERSEDE_HOLD_SHARE")
    monkeypatch.setenv("carehaven_data_engine", "sparkle")  # names match whatever their case
    with pytest.raises(ConfigurationError, match=r"data_engine: .*'duckdb' or 'spark'"):
        Settings.load()
    monkeypatch.setenv("carehaven_data_engine", "spark")
    monkeypatch.setenv("CAREHAVEN_CONTROL_URL", "")
    s = Settings.load()
    assert s.data_engine == "spark" and s.control_url is None


def test_a_secret_is_never_printed(monkeypatch):
    monkeypatch.setenv("CAREHAVEN_MASTER_KEY", "c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0LXNlY3I=")
    s = Settings.load()
    assert "c2VjcmV0" not in repr(s) and "c2VjcmV0" not in str(s)
    assert s.master_key is not None and s.master_key.get_secret_value().startswith("c2VjcmV0")
