"""Validation reports: JSON for systems, CSV for spreadsheets, HTML for people.

A report holds row numbers, field names, rule ids and sentences; identifier values appear only
as their shape (masking.py), and file-rule messages name headings by position and shape
(reading.py). The CSV goes through the haven's one formula neutraliser (csvsafe.py).
"""

from __future__ import annotations

import html
import json
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.parquet as pq

from carehaven.csvsafe import format_csv
from carehaven.csvsafe import neutralise as neutralise  # re-exported: register.py uses it
from carehaven.errors import NotFoundError

if TYPE_CHECKING:
    from carehaven.access.users import Actor
    from carehaven.haven import Haven

FINDINGS_FILE = "findings.parquet"
SUMMARY_FILE = "summary.json"
HTML_LIMIT = 2000  # findings listed on the page; the JSON and CSV always hold all of them


def write(folder: Path, tmp: Path, summary: dict[str, Any], findings: pa.Table) -> Path:
    """Write summary and findings to a temporary folder, then rename it into place."""
    part = tmp / (folder.name + ".report.part")
    if part.exists():
        shutil.rmtree(part)
    part.mkdir(mode=0o700)
    (part / SUMMARY_FILE).write_text(json.dumps(summary, indent=2, default=str) + "\n")
    pq.write_table(findings, part / FINDINGS_FILE)
    part.replace(folder)
    return folder


def load(folder: Path) -> tuple[dict[str, Any], pa.Table]:
    summary = json.loads((folder / SUMMARY_FILE).read_text())
    return summary, pq.read_table(folder / FINDINGS_FILE)


def folder_of(haven: Haven, actor: Actor, submission_id: str) -> Path:
    """The report folder of a submission ``actor`` may read (``listing.submission``: another
    organisation's reads as missing); NotFoundError when it has no report."""
    from carehaven.collection.listing import submission

    found = submission(haven, actor, submission_id)
    folder = haven.paths.reports / found.submission_id
    if "/" in found.submission_id or not (folder / SUMMARY_FILE).is_file():
        raise NotFoundError(f"There is no report of submission {submission_id} in this haven.")
    return folder


def readable(haven: Haven, actor: Actor, submission_id: str) -> tuple[dict[str, Any], pa.Table]:
    """The summary and findings of a submission's report, for someone who may read it."""
    return load(folder_of(haven, actor, submission_id))


def as_json(summary: dict[str, Any], findings: pa.Table) -> str:
    return json.dumps({**summary, "findings": findings.to_pylist()}, indent=2, default=str) + "\n"


def as_csv(findings: pa.Table) -> str:
    columns = ("field", "rule", "message", "value")
    return format_csv(
        ["row", *columns],
        ([rec["row"], *(rec[k] or "" for k in columns)] for rec in findings.to_pylist()),
    )


def as_html(summary: dict[str, Any], findings: pa.Table) -> str:
    # Imported here: submit writes no HTML, and Jinja is a tenth of its start-up.
    from jinja2 import Environment, PackageLoader, select_autoescape

    env = Environment(
        loader=PackageLoader("carehaven.collection", "templates"),
        autoescape=select_autoescape(["html"]),
    )
    shown = findings.slice(0, HTML_LIMIT).to_pylist()
    return env.get_template("report.html").render(
        s=summary, findings=shown, total=findings.num_rows, limit=HTML_LIMIT, escape=html.escape
    )
