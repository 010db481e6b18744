"""Files and folders a user names for carehaven to write (``--out``, ``--report``).

A command that writes where a user says (``report --out``, ``notice render --out``,
``register --out``, ``link --report``) can be asked by anyone who may run it to write over the
haven's own files: the master key, the control database, the landing zone. So every such path
goes through this module, and only this module writes it:

- **Where.** The places any artefact that leaves the haven may go (``artefact.check_folder``):
  outside the haven, or under its ``outputs`` folder; never among its databases, keys, landing
  zone, reports, previews or logs. The check is made on the resolved path, and again on the
  folder actually opened (its ancestors, by device and inode), so a symbolic link anywhere on
  the way, or swapped in while carehaven works, cannot lead inside.
- **New files only.** An existing file, or a symbolic link (even a dangling one), is refused:
  carehaven never overwrites; the user deletes it first. The file is created with
  ``O_CREAT | O_EXCL | O_NOFOLLOW`` relative to the opened folder, owner-only.
- **Folders** (``link --report``) are new, or existing and empty, and never a link.

Every refusal is a :class:`UsageError` (exit 2) whose sentence names the path.
"""

from __future__ import annotations

import os
from pathlib import Path

from carehaven.errors import UsageError
from carehaven.haven import Haven

#: A path a user names leaves the haven, so it may go where any leaving artefact may.
_LEAVING_KIND = "release"
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | getattr(os, "O_CLOEXEC", 0)
_NEW_FILE_FLAGS = (
    os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
    | getattr(os, "O_CLOEXEC", 0)
)


def check_file(haven: Haven, path: Path, *, force: bool = False) -> Path:
    """The absolute path a new file may be written at, or a sentence saying why not.
    ``force`` (a command's ``--force``) allows replacing an existing regular file there; never
    a folder, a link, or anything inside the haven."""
    target = _absolute(path)
    if target.is_symlink():
        raise UsageError(
            f"{target} is a symbolic link; carehaven writes only a new file, never through a "
            "link. Name a new file."
        )
    if str(path) in ("", ".") or target == Path(target.anchor) or str(path).endswith(os.sep):
        raise UsageError(f"{path} names a folder; name the file to write.")
    _check_where(haven, target, target.parent)
    if target.is_dir():
        raise UsageError(f"{target} is a folder; name the file to write, inside it or elsewhere.")
    if target.exists() and not target.is_file():  # a device, a FIFO, a socket
        raise UsageError(f"{target} is not a regular file; name a new file.")
    if target.exists() and not force:
        raise UsageError(
            f"{target} is an existing file; carehaven does not overwrite it unless you add "
            "--force. Delete it, name a new file, or add --force."
        )
    return target


def write_new(haven: Haven, path: Path, data: str | bytes, *, force: bool = False) -> Path:
    """Write ``data`` (text as UTF-8) to a new file at ``path``; returns where it went. With
    ``force`` an existing regular file is replaced whole (written beside it, then renamed over
    it, so it is never half-written)."""
    target = check_file(haven, path, force=force)
    if force and target.exists():
        return _replace(haven, target, data)
    body = data.encode("utf-8") if isinstance(data, str) else data
    folder = _open_folder(haven, target, target.parent)
    try:
        try:
            fd = os.open(target.name, _NEW_FILE_FLAGS, 0o600, dir_fd=folder)
        except FileExistsError:  # made, or linked, since the check
            raise UsageError(
                f"{target} appeared while carehaven was writing; nothing was written over it. "
                "Name a new file."
            ) from None
        except OSError as exc:  # a link in the last place (ELOOP), no permission, ...
            raise UsageError(
                f"{target} cannot be created ({exc.strerror or type(exc).__name__})."
            ) from None
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(body)
        except BaseException:
            os.unlink(target.name, dir_fd=folder)
            raise
    finally:
        os.close(folder)
    return target


def _replace(haven: Haven, target: Path, data: str | bytes) -> Path:
    """``--force``: a new file beside ``target``, renamed over it within the opened folder."""
    spare = Path(f".{target.name}.{os.getpid()}.carehaven-new")
    write_new(haven, target.parent / spare, data)
    folder = _open_folder(haven, target, target.parent)
    try:
        try:
            os.replace(spare, target.name, src_dir_fd=folder, dst_dir_fd=folder)
        except OSError as exc:
            os.unlink(spare, dir_fd=folder)
            raise UsageError(
                f"{target} cannot be replaced ({exc.strerror or type(exc).__name__})."
            ) from None
    finally:
        os.close(folder)
    return target


def new_folder(haven: Haven, path: Path) -> Path:
    """A folder to write a set of files into: made here (owner-only) when it does not exist,
    else an existing empty folder that is not a link. Returns its absolute path."""
    target = _absolute(path)
    if target.is_symlink():
        raise UsageError(
            f"{target} is a symbolic link; carehaven writes only into a real folder. Name a new "
            "folder."
        )
    _check_where(haven, target, target.parent)
    if target.exists() and not target.is_dir():
        raise UsageError(f"{target} is a file; name a new or empty folder.")
    if target.is_dir() and any(target.iterdir()):
        raise UsageError(
            f"{target} is not empty; carehaven never overwrites, so name a new or empty folder."
        )
    parent = _open_folder(haven, target, target.parent)
    try:
        try:
            os.mkdir(target.name, 0o700, dir_fd=parent)
        except FileExistsError:
            pass
        except OSError as exc:
            raise UsageError(
                f"The folder {target} cannot be made ({exc.strerror or type(exc).__name__})."
            ) from None
        try:
            mine = os.open(target.name, _DIR_FLAGS | getattr(os, "O_NOFOLLOW", 0), dir_fd=parent)
        except OSError:
            raise UsageError(
                f"{target} changed while carehaven was making it; name a new folder."
            ) from None
        try:
            if _inside_haven(haven, mine):
                raise _inside_error(haven, target)
            if os.listdir(mine):  # noqa: PTH208 - the folder opened, not a name
                raise UsageError(
                    f"{target} is not empty; carehaven never overwrites, so name a new or "
                    "empty folder."
                )
        finally:
            os.close(mine)
    finally:
        os.close(parent)
    return target


def _absolute(path: Path) -> Path:
    """The path as named, made absolute; links are resolved only where it is checked."""
    return path.expanduser().absolute()


def _check_where(haven: Haven, target: Path, parent: Path) -> None:
    """Refuse a place inside the haven other than its outputs folder (as check_folder does for
    artefacts), and a parent that is not an existing folder."""
    from carehaven.governance.artefact import check_folder

    if not parent.is_dir():
        raise UsageError(f"There is no folder {parent} to write {target} into.")
    folder = parent.resolve()
    where = folder / target.name
    root, outputs = haven.paths.root, haven.paths.outputs
    if where.is_relative_to(root) and not where.is_relative_to(outputs):
        raise _inside_error(haven, target)
    try:
        check_folder(haven, _LEAVING_KIND, folder)
    except UsageError:
        raise _inside_error(haven, target) from None


def _inside_error(haven: Haven, target: Path) -> UsageError:
    return UsageError(
        f"{target} is inside the haven, where carehaven writes what you name only under its "
        f"outputs folder ({haven.paths.outputs}); write it there or outside the haven."
    )


def _open_folder(haven: Haven, target: Path, parent: Path) -> int:
    """Open ``parent`` and check the folder actually opened, not just its name."""
    try:
        fd = os.open(parent.resolve(), _DIR_FLAGS)
    except OSError:
        raise UsageError(f"There is no folder {parent} to write {target} into.") from None
    if _inside_haven(haven, fd):
        os.close(fd)
        raise _inside_error(haven, target)
    return fd


def _inside_haven(haven: Haven, fd: int) -> bool:
    """Whether the folder open at ``fd`` is the haven or inside it, other than at or under its
    outputs folder: walks up through ``..`` comparing device and inode, so no name is trusted."""
    root = _identity(haven.paths.root)
    outputs = _identity(haven.paths.outputs)
    current = os.dup(fd)
    try:
        while True:
            st = os.fstat(current)
            here = (st.st_dev, st.st_ino)
            if here == outputs:
                return False
            if here == root:
                return True
            up = os.open("..", _DIR_FLAGS, dir_fd=current)
            above = os.fstat(up)
            os.close(current)
            current = up
            if (above.st_dev, above.st_ino) == here:  # the file system's root
                return False
    finally:
        os.close(current)


def _identity(path: Path) -> tuple[int, int] | None:
    try:
        st = path.stat()
    except OSError:
        return None
    return st.st_dev, st.st_ino


__all__ = ["check_file", "new_folder", "write_new"]
