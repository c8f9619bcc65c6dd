"""Where a zoo was made: package versions, git revision, host and time (the ``provenance``
root attribute). Versions are read from the installed distributions' metadata, so nothing
here imports the packages themselves (least of all the ``hyperzoo`` application)."""

from __future__ import annotations

import platform
import socket
import subprocess
from datetime import datetime, timezone
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import h5py

DISTRIBUTIONS = ("hyperzoo", "torch", "ray", "numpy", "h5py")


def _version(name: str) -> str:
    try:
        return version(name)
    except PackageNotFoundError:
        return "unknown"


def git_revision() -> str:
    """HEAD of the checkout this code runs from (``+dirty`` with changes), else ``unknown``."""
    here = Path(__file__).resolve().parent
    try:
        rev = subprocess.run(["git", "-C", str(here), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=10)
        if rev.returncode != 0:
            return "unknown"
        dirty = subprocess.run(["git", "-C", str(here), "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, timeout=10)
        return rev.stdout.strip() + ("+dirty" if dirty.stdout.strip() else "")
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def provenance() -> dict[str, Any]:
    versions = {name: _version(name) for name in DISTRIBUTIONS}
    return {
        "hyperzoo": versions["hyperzoo"],
        "git_revision": git_revision(),
        "python": platform.python_version(),
        **{name: versions[name] for name in DISTRIBUTIONS[1:]},
        "hdf5": h5py.version.hdf5_version,
        "platform": platform.platform(),
        "host": socket.gethostname(),
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
