"""Atomic writes and output-path safety.

Every write is atomic (a temporary file in the target directory, then :func:`os.replace`),
and an output path is checked before a long run: writable directory, supported extension,
and not one of the inputs under another spelling.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path

from deepprior.errors import DeepPriorError

from ._common import PathLike, _format_list, _one_line

__all__ = ["atomic_write_bytes", "atomic_write_text", "check_output_path"]

# Extension -> Pillow format name, for writing.
_WRITE_FORMATS = {
    ".png": "PNG",
    ".jpg": "JPEG",
    ".jpeg": "JPEG",
    ".tif": "TIFF",
    ".tiff": "TIFF",
    ".bmp": "BMP",
    ".webp": "WEBP",
}


def atomic_write_text(path: PathLike, text: str) -> None:
    """Write UTF-8 text atomically (temporary file in the same directory, then rename).

    Args:
        path: Output file; its directory must exist.
        text: The content.

    Raises:
        DeepPriorError: The directory is missing or read-only, or the write fails.
    """
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_bytes(path: PathLike, data: bytes) -> Path:
    """Write bytes atomically (temporary file in the same directory, then rename).

    Raises:
        DeepPriorError: The directory is missing or read-only, or the write fails.
    """
    p = Path(path)
    _check_target(p)
    _atomic_write(p, lambda tmp: tmp.write_bytes(data), p.suffix)
    return p


def check_output_path(
    out: PathLike, inputs: Iterable[PathLike | None] = (), *, overwrite: bool = True
) -> Path:
    """Check, before a long run, that ``out`` can be written and would not clobber an input.

    Args:
        out: The planned output image.
        inputs: Input files (image, mask, guide, ...); None entries are ignored.
        overwrite: If False, an existing ``out`` is refused as well.

    Returns:
        ``out`` as a Path.

    Raises:
        DeepPriorError: ``out`` is a directory, has an unsupported extension, is one of the
            inputs (also through another spelling, a symlink or a hard link), already exists
            while ``overwrite`` is False, or its directory is missing or not writable.
    """
    p = Path(out)
    if p.is_dir():
        raise DeepPriorError(
            f"cannot write {p}: it is a directory; give a file name such as {p / 'restored.png'}"
        )
    _check_extension(p)
    for inp in inputs:
        if inp is not None and _same_file(p, Path(inp)):
            raise DeepPriorError(
                f"refusing to overwrite the input {inp}; choose another output path"
            )
    _check_target(p)
    if not overwrite and p.exists():
        raise DeepPriorError(
            f"refusing to overwrite {p}: it already exists; choose another output path "
            "or allow overwriting"
        )
    return p


def _same_file(a: Path, b: Path) -> bool:
    """True if ``a`` and ``b`` name the same file (samefile when both exist, else resolved)."""
    try:
        if a.exists() and b.exists():
            return os.path.samefile(a, b)
        return a.resolve() == b.resolve()
    except OSError:
        return False


def _check_extension(p: Path) -> str:
    ext = p.suffix.lower()
    if ext not in _WRITE_FORMATS:
        shown = f"'{p.suffix}'" if p.suffix else "(none)"
        raise DeepPriorError(
            f"cannot write {p}: unsupported extension {shown}; "
            f"use one of {_format_list(_WRITE_FORMATS)}"
        )
    return ext


def _check_target(p: Path) -> None:
    """Check that ``p`` is not a directory and that its directory exists and is writable."""
    if p.is_dir():
        raise DeepPriorError(f"cannot write {p}: it is a directory; give a file path")
    parent = p.parent
    if not parent.exists():
        raise DeepPriorError(
            f"cannot write {p}: directory {parent} does not exist; create it first"
        )
    if not parent.is_dir():
        raise DeepPriorError(
            f"cannot write {p}: {parent} is not a directory; choose another output path"
        )
    if not os.access(parent, os.W_OK | os.X_OK):
        raise DeepPriorError(
            f"cannot write {p}: directory {parent} is not writable; choose another output path"
        )


def _new_file_mode(target: Path) -> int:
    """Permissions for the final file: the old file's, else 0o666 minus the umask."""
    try:
        return target.stat().st_mode & 0o7777
    except OSError:
        pass
    umask = None
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("Umask:"):
                    umask = int(line.split()[1], 8)
                    break
    except (OSError, ValueError):
        pass
    if umask is None:
        umask = os.umask(0o022)
        os.umask(umask)
    return 0o666 & ~umask


def _atomic_write(target: Path, write: Callable[[Path], None], suffix: str) -> None:
    """Run ``write`` on a temporary file next to ``target``, then rename it onto ``target``.

    The temporary file is removed if anything fails; OS errors become DeepPriorError.
    """
    tmp: Path | None = None
    try:
        with tempfile.NamedTemporaryFile(
            dir=target.parent, prefix=f".{target.name}.", suffix=suffix, delete=False
        ) as f:
            tmp = Path(f.name)
        write(tmp)
        os.chmod(tmp, _new_file_mode(target))
        os.replace(tmp, target)
        tmp = None
    except OSError as exc:
        reason = exc.strerror or _one_line(exc)
        raise DeepPriorError(
            f"cannot write {target}: {reason}; check the path and disk space"
        ) from None
    finally:
        if tmp is not None:
            tmp.unlink(missing_ok=True)
