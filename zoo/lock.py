"""The zoo writer's lock: the one module that imports ``fcntl``.

Only writers import it (lazily), so reading a zoo works where ``fcntl`` does not exist.
"""

from __future__ import annotations

import fcntl
import os
import socket
from pathlib import Path

from zoo.format import ZooBusyError


def lock_path(path: str | Path) -> Path:
    return Path(path).with_name(Path(path).name + ".lock")


class WriterLock:
    """An exclusive lock on ``<zoo>.lock`` held by the zoo's one writer.

    HDF5's own lock is no guard here: a SWMR writer drops it so that readers can open
    the file. The OS releases this lock when its process dies, however it dies, so a
    zoo marked "open for writing" whose lock is free was left by a killed writer.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = lock_path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(self._fd)
            raise ZooBusyError(f"{path}: another process is writing this zoo (lock {self.path} is held)") from None
        os.ftruncate(self._fd, 0)
        os.write(self._fd, f"{socket.gethostname()} {os.getpid()}\n".encode())

    def release(self) -> None:
        if self._fd >= 0:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = -1

    def __enter__(self) -> WriterLock:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()
