from pathlib import Path

from carehaven.cli.reference import render


def test_cli_reference_is_current():
    """docs/cli.md is generated from --help; regenerate it when a command changes."""
    doc = Path(__file__).parents[2] / "docs" / "cli.md"
    assert doc.read_text() == render(), (
        "docs/cli.md is stale: uv run python -m carehaven.cli.reference > docs/cli.md")
