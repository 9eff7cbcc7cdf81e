"""Folders the user names for output: created if missing, refused in one line if they cannot be written."""

from __future__ import annotations

import os
from pathlib import Path

from paretomoo.errors import UserError


def writable_folder(path: str | os.PathLike[str], flag: str = "--out") -> Path:
    """``path`` as a folder that exists and can be written; a ``UserError`` naming ``flag`` otherwise."""
    out = Path(path)
    if out.exists() and not out.is_dir():
        raise UserError(f"{flag} {out} is a file, not a folder; choose a folder path (it is created if missing)")
    try:
        out.mkdir(parents=True, exist_ok=True)
        probe = out / ".paretomoo-write-test"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        raise UserError(f"cannot write to the folder {out} ({exc.strerror}); choose a writable folder with {flag}") from None
    return out
