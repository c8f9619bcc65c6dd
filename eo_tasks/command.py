"""How a command-line entry point ends: the project's error policy.

A command ends in one of three ways:

- exit 0: it did its job;
- exit 2, one line ``PROG: error: MESSAGE`` on stderr: the *user* has something to fix.
  That is a typed error: ``ConfigError`` for a config or an option, ``DataError`` for a
  dataset, and those the entry point adds (``zoo.ZooFormatError`` for a zoo file, which
  this package cannot import); or an ``OSError`` about a path: :data:`PATH_ERRORS` (missing,
  already there, not allowed, a file where a folder belongs or the reverse) and a full,
  over-quota or read-only disk (:data:`DISK_ERRNOS`). Their messages name the file,
  key or option, so a traceback would add nothing;
- exit 1 with the full traceback: anything else. A plain ``ValueError``, ``KeyError``
  or ``RuntimeError`` escaping to here is a bug (or a check that should raise a typed
  error), and its traceback is what a bug report needs.

Ctrl-C ends with 130 and one line, as shells expect.
"""

from __future__ import annotations

import errno
import sys
import traceback
from collections.abc import Callable

from eo_tasks.config import ConfigError
from eo_tasks.data.errors import DataError

PATH_ERRORS: tuple[type[OSError], ...] = (
    FileNotFoundError, FileExistsError, PermissionError, IsADirectoryError, NotADirectoryError,
)
DISK_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EFBIG})


def is_user_error(err: BaseException, more_errors: tuple[type[BaseException], ...] = ()) -> bool:
    """Whether ``err`` is for the user to fix (one line, exit 2) rather than a bug."""
    if isinstance(err, (ConfigError, DataError, *more_errors, *PATH_ERRORS)):
        return True
    return isinstance(err, OSError) and err.errno in DISK_ERRNOS


def one_line(err: BaseException) -> str:
    """The error's message on one line (HDF5 and TOML messages can span several)."""
    text = " ".join(part.strip() for part in str(err).splitlines() if part.strip())
    return text or type(err).__name__


def run_command(call: Callable[[], int | None], prog: str, more_errors: tuple[type[BaseException], ...] = ()) -> int:
    """Run ``call`` and turn how it ended into an exit status (see the module docstring);
    ``more_errors``: typed errors of the packages above this one."""
    try:
        return int(call() or 0)
    except KeyboardInterrupt:
        print(f"{prog}: interrupted", file=sys.stderr)
        return 130
    except Exception as err:
        if not is_user_error(err, more_errors):
            traceback.print_exc(file=sys.stderr)
            return 1
        print(f"{prog}: error: {one_line(err)}", file=sys.stderr)
        return 2
