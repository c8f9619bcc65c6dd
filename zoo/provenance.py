"""Where a zoo was made: package versions, git revision, host and time (the ``provenance``
root attribute). Versions are read from the installed distributions' metadata, so nothing
here imports the packages themselves (least of all the ``hyperzoo`` application)."""

from __future__ import annotations

import hashlib
import platform
import socket
import subprocess
from datetime import datetime, timezone
from functools import lru_cache
from importlib.metadata import PackageNotFoundError, version
from importlib.util import find_spec
from pathlib import Path
from typing import Any

import h5py

DISTRIBUTIONS = ("hyperzoo", "torch", "ray", "numpy", "h5py")
# the packages whose code decides what a zoo holds (the application above them does not)
SOURCE_PACKAGES = ("eo_tasks", "zoo")


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


@lru_cache(maxsize=1)
def source_digest() -> str:
    """``sha256:<16 hex>`` of the Python sources of eo_tasks and zoo as this process imports
    them. Unlike the git revision it also identifies code shipped to a Ray job's workers
    (``ray job submit --working-dir``), which arrives without its ``.git``; a driver and its
    workers that ran the same code show the same digest."""
    h = hashlib.sha256()
    for package in SOURCE_PACKAGES:
        spec = find_spec(package)
        if spec is None or not spec.submodule_search_locations:
            continue
        root = Path(next(iter(spec.submodule_search_locations)))
        for path in sorted(root.rglob("*.py")):
            h.update(f"{package}/{path.relative_to(root).as_posix()}\0".encode())
            h.update(path.read_bytes())
    return "sha256:" + h.hexdigest()[:16]


def source_root() -> str:
    """The folder this process imports zoo from."""
    return str(Path(__file__).resolve().parent.parent)


def provenance() -> dict[str, Any]:
    versions = {name: _version(name) for name in DISTRIBUTIONS}
    return {
        "hyperzoo": versions["hyperzoo"],
        "git_revision": git_revision(),
        "source_digest": source_digest(),
        "source_root": source_root(),
        "python": platform.python_version(),
        **{name: versions[name] for name in DISTRIBUTIONS[1:]},
        "hdf5": h5py.version.hdf5_version,
        "platform": platform.platform(),
        "host": socket.gethostname(),
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
