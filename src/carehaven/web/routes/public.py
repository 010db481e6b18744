"""What anyone may read without signing in: the start page, the published statistics and the
privacy notices (issue 14 part 6)."""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import FileResponse, HTMLResponse, Response

from carehaven import clock
from carehaven.errors import NotFoundError
from carehaven.haven import Haven
from carehaven.publish import public as published
from carehaven.web.deps import MaybeSignedIn, haven_of
from carehaven.web.embed import body_of
from carehaven.web.pages import render

router = APIRouter()


@router.get("/", include_in_schema=False)
async def home(request: Request, caller: MaybeSignedIn) -> Response:
    return render(request, "home.html", caller, title="carehaven")


@dataclass(frozen=True)
class Snapshot:
    """The statistics page's tables as of ``state``, and the page as nobody signed in sees it
    (rendered once: it is the same bytes for every anonymous reader)."""

    state: tuple[tuple[int, int], ...]
    tables: list[dict[str, Any]]
    anonymous: bytes | None = None


def _state(haven: Haven) -> tuple[tuple[int, int], ...]:
    """What the page shows depends on: each publication row and its folder's listing (a
    file added, removed or renamed there changes the folder's mtime)."""
    def mtime(directory: str) -> int:
        try:
            return Path(directory).stat().st_mtime_ns
        except OSError:
            return -1

    return tuple((int(pid), mtime(str(directory))) for pid, directory in haven.rows.fetch(
        "SELECT id, directory FROM publications ORDER BY id"))


def _tables(haven: Haven) -> list[dict[str, Any]]:
    tables = []
    for pub in published.publications(haven):
        csvs = [f.name for f in pub.files if f.name.endswith(".csv")]
        header: list[str] = []
        rows: list[list[str]] = []
        if csvs:
            header, rows = published.preview(
                published.published_file(haven, pub.publication, csvs[0]), limit=50)
        tables.append({"pub": pub, "header": header, "rows": rows,
                       "charts": [f.name for f in pub.files if f.name.endswith(".png")],
                       "downloads": [f for f in pub.files
                                     if f.name.endswith((".csv", ".xlsx"))
                                     and not f.name.endswith(".structure.json")]})
    return tables


@router.get("/statistics", include_in_schema=False)
def statistics(request: Request, caller: MaybeSignedIn) -> Response:
    """Every published table. Built again only when the publications change (one small query
    says whether they have), so the most read page costs about what a static file does
    (docs/benchmarks.md, the portal under load)."""
    haven = haven_of(request)
    state = _state(haven)
    snapshot: Snapshot | None = getattr(request.app.state, "statistics", None)
    if snapshot is None or snapshot.state != state:
        snapshot = Snapshot(state, _tables(haven))
    if caller is None and snapshot.anonymous is None:
        page = render(request, "statistics.html", None, title="Published statistics",
                      tables=snapshot.tables)
        snapshot = replace(snapshot, anonymous=bytes(page.body))
    request.app.state.statistics = snapshot
    if caller is None and snapshot.anonymous is not None:
        return HTMLResponse(snapshot.anonymous)
    return render(request, "statistics.html", caller, title="Published statistics",
                  tables=snapshot.tables)


@router.get("/statistics/{publication}/{file_name}", include_in_schema=False)
def statistics_file(request: Request, publication: str, file_name: str) -> Response:
    path = published.published_file(haven_of(request), publication, file_name)
    media = published.DOWNLOADS[path.suffix]
    inline = path.suffix == ".png"
    return FileResponse(path, media_type=media, filename=path.name,
                        content_disposition_type="inline" if inline else "attachment")


def _notice_html(request: Request, collection: str) -> tuple[str, object, str]:
    """The latest published version of ``collection``'s notice, else the draft of today's."""
    from carehaven.governance.notice import content, stored, versions
    from carehaven.governance.notice import render as render_notice

    haven = haven_of(request)
    done = [v for v in versions(haven, collection) if v.rendered]
    notice = stored(haven, collection, done[-1].version) if done else content(
        haven, collection, clock.today())
    state = f"version {notice.version}" if notice.version else "draft, not yet published"
    return notice.title, body_of(render_notice(notice, "html")), state


@router.get("/notices", include_in_schema=False)
def notices(request: Request, caller: MaybeSignedIn) -> Response:
    from carehaven.governance.collections import catalogue

    found = [{"code": code, "title": c.title}
             for code, c in catalogue().collections.items()]
    return render(request, "notices.html", caller, title="Privacy notices", notices=found)


@router.get("/notices/{collection}", include_in_schema=False)
def notice(request: Request, caller: MaybeSignedIn, collection: str) -> Response:
    from carehaven.governance.collections import catalogue

    if collection not in catalogue().collections:
        raise NotFoundError(f"There is no privacy notice for {collection}.")
    title, body, state = _notice_html(request, collection)
    return render(request, "notice.html", caller, title=f"{title}: privacy notice",
                  body=body, state=state)
