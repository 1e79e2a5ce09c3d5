"""Small durable-file helpers shared by the file sink and the spool (POSIX-first)."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

try:  # POSIX advisory locks; on Windows the single-writer guard is skipped (documented)
    import fcntl
except ImportError:  # pragma: no cover - non-POSIX
    fcntl = None  # type: ignore[assignment]


class DirectoryLockedError(RuntimeError):
    """Another process already writes this audit directory; two writers would fork the chain."""


def lock_directory(directory: Path) -> Any:
    """Hold an exclusive lock on ``directory/.lock`` for the lifetime of the returned handle."""
    handle = open(directory / ".lock", "a+b")  # noqa: SIM115 - kept open on purpose
    if fcntl is not None:
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            handle.close()
            raise DirectoryLockedError(
                f"{directory} is in use by another process (lock file {directory / '.lock'}); "
                "give each process its own audit directory"
            ) from None
    return handle


def unlock_directory(handle: Any) -> None:
    if handle is None:
        return
    try:
        if fcntl is not None:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
    finally:
        handle.close()


def fsync_dir(directory: Path) -> None:
    """Make a create/rename/unlink in ``directory`` durable (no-op where unsupported)."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def write_json_atomic(path: Path, obj: Any) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    with open(tmp, "wb") as fh:
        fh.write(json.dumps(obj, sort_keys=True).encode())
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    fsync_dir(path.parent)


def read_last_line(path: Path, chunk: int = 65536) -> bytes:
    """The last line of ``path`` (with its newline if present) without reading the whole file."""
    with open(path, "rb") as fh:
        fh.seek(0, os.SEEK_END)
        end = fh.tell()
        if end == 0:
            return b""
        pos = end
        buf = b""
        # skip the final newline itself, then look for the previous one
        while pos > 0:
            step = min(chunk, pos)
            pos -= step
            fh.seek(pos)
            buf = fh.read(step) + buf
            idx = buf.rfind(b"\n", 0, len(buf) - 1)
            if idx != -1:
                return buf[idx + 1:]
        return buf


def cut_torn_tail(path: Path) -> bytes | None:
    """If ``path`` ends in a partial line (a crash mid-write), move it aside and truncate.

    The partial line was never acknowledged as written, so removing it keeps the chain
    valid; the bytes are preserved in ``<file>.torn-<epoch>`` for inspection, never deleted.
    """
    size = path.stat().st_size
    if size == 0:
        return None
    with open(path, "rb") as fh:
        fh.seek(size - 1)
        if fh.read(1) == b"\n":
            return None
    last = read_last_line(path)
    torn = path.with_name(f"{path.name}.torn-{int(time.time() * 1000)}")
    with open(torn, "wb") as fh:
        fh.write(last)
        fh.flush()
        os.fsync(fh.fileno())
    with open(path, "r+b") as fh:
        fh.truncate(size - len(last))
        fh.flush()
        os.fsync(fh.fileno())
    fsync_dir(path.parent)
    return last
