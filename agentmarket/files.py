"""Writing result files whole or not at all, with the permissions the user's umask gives.

Every results file (run tables, sweep files, reports, figures' tables, calibrated scenarios)
is written to a temporary name in its folder and renamed into place, so that a crash or a kill
never leaves half a file under the real name. ``tempfile.mkstemp`` creates its file with mode
0600; the file is given ``0o666 & ~umask`` before it is renamed, as a plain ``open`` would, so
that a colleague on the same machine can read the results (0644 under umask 022).
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path


def current_umask() -> int:
    """The process's file-creation mask (read by setting and restoring it)."""
    mask = os.umask(0)
    os.umask(mask)
    return mask


def default_file_mode() -> int:
    """The mode a new file gets from a plain ``open`` under the current umask."""
    return 0o666 & ~current_umask()


def fsync_folder(folder: Path) -> None:
    """Flush a folder's entries to disk, so that a rename in it survives a power cut."""
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _temporary_beside(path: Path) -> Path:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    return Path(tmp)


def write_atomic(path: str | os.PathLike, write: Callable[[Path], object], *, durable: bool = False) -> Path:
    """Call ``write(tmp_path)``, then rename the result to ``path``: the file is whole or absent.

    Args:
        path: where the file ends up; its folder is created if missing.
        write: writes the whole file at the temporary path it is given.
        durable: also fsync the file and its folder, so that the file survives a power cut
            (for files that record progress, such as a sweep's run files).

    Returns:
        ``path`` as a :class:`~pathlib.Path`.
    """
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = _temporary_beside(out)
    try:
        write(tmp)
        os.chmod(tmp, default_file_mode())
        if durable:
            with open(tmp, "rb+") as fh:
                os.fsync(fh.fileno())
        os.replace(tmp, out)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    if durable:
        fsync_folder(out.parent)
    return out


def write_all_atomic(writers: Mapping[Path, Callable[[Path], object]]) -> None:
    """Write every file to a temporary name, then move all into place: all files or none."""
    temps: dict[Path, Path] = {}
    try:
        for path, write in writers.items():
            path.parent.mkdir(parents=True, exist_ok=True)
            temps[path] = _temporary_beside(path)
            write(temps[path])
            os.chmod(temps[path], default_file_mode())
        for path, tmp in temps.items():
            os.replace(tmp, path)
    finally:
        for tmp in temps.values():
            tmp.unlink(missing_ok=True)
