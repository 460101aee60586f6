"""Writing a build directory so that at every instant it is either the old complete build or the
new complete one (a compile killed at any moment leaves no half-written or half-deleted build).

The new build is written into a hidden sibling, then swapped into place: by one atomic
renameat2(RENAME_EXCHANGE) where the OS and file system have it (Linux >= 3.15 on ext4, xfs,
btrfs, tmpfs, ...), after which the sibling holds the old build and is deleted. Elsewhere the old
build is renamed aside and the new one renamed in: two renames, a moment without the directory,
but never a mixture of two builds.
"""

from __future__ import annotations

import ctypes
import errno
import os
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path

from bespoke.compiler.errors import BespokeError

_AT_FDCWD = -100
_RENAME_EXCHANGE = 2


def check_output_dir(out: Path, marker: str) -> None:
    """A user error when `out` cannot be replaced by a build: it is not a directory, a directory
    that is not a build (no `marker` file) and not empty, or the current directory or one of its
    parents (replacing it would leave the shell in a deleted directory)."""
    if out.exists() and (not out.is_dir() or (any(out.iterdir()) and not (out / marker).exists())):
        raise BespokeError(f"{out}: exists and is not a bespoke build directory; refusing to overwrite it")
    here, target = Path.cwd().resolve(), out.resolve()
    if target == here or target in here.parents:
        raise BespokeError(f"{out}: is the current directory (or contains it) and cannot be replaced; run from its parent "
                           "directory or write the build to a subdirectory, e.g. -o out/")


@contextmanager
def staging(out: Path):
    """A fresh hidden sibling of `out` to write the new build into; on leaving without error it
    replaces `out`, on any error it is deleted and `out` is untouched. File system errors (a file
    in the way, no permission, a read-only or full disk) are one-line user errors."""
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.tmp-", dir=out.parent))
    except OSError as e:
        raise BespokeError(f"{out}: cannot create the build directory: {_reason(e)}") from None
    try:
        yield tmp
        _swap_in(tmp, out)
    except OSError as e:
        shutil.rmtree(tmp, ignore_errors=True)
        raise BespokeError(f"{out}: cannot write the build: {_reason(e)}") from None
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _swap_in(new: Path, out: Path) -> None:
    if not out.exists():
        os.rename(new, out)  # atomic; fails if another process created `out` meanwhile
        return
    if _exchange(new, out):
        shutil.rmtree(new)  # now the old build
        return
    old = Path(tempfile.mkdtemp(prefix=f".{out.name}.old-", dir=out.parent))
    os.rename(out, old / "build")
    os.rename(new, out)
    shutil.rmtree(old)


def _exchange(a: Path, b: Path) -> bool:
    """Swap two directories atomically; False where the OS or file system cannot."""
    fn = getattr(ctypes.CDLL(None, use_errno=True), "renameat2", None)
    if fn is None:
        return False
    if fn(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE) == 0:
        return True
    code = ctypes.get_errno()
    if code in (errno.EINVAL, errno.ENOSYS, errno.ENOTSUP):
        return False
    raise OSError(code, os.strerror(code), str(b))


def _reason(e: OSError) -> str:
    where = f" ({e.filename})" if e.filename else ""
    return f"{e.strerror or type(e).__name__}{where}"
