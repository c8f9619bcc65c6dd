"""What a zoo file's HDF5 superblock says about its state, and the one way readers open it.

Two facts decide how a zoo may be opened: whether a writer marked it "open for writing"
(set while a writer has it, left set by a killed one) and whether the file is shorter than
the end of file its superblock records (a copy cut short, or a writer that hit a full
disk). Both are read from the superblock here, as flags and numbers, so that no caller
has to interpret HDF5's error messages.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import h5py

from zoo.format import TruncatedZooError

SIGNATURE = b"\x89HDF\r\n\x1a\n"
_MAX_USERBLOCK = 1 << 24  # the superblock sits at 0 or at 512, 1024, 2048, .. (after a user block)


@dataclass(frozen=True)
class Superblock:
    offset: int  # where the superblock starts in the file
    version: int
    flags: int  # file consistency flags (versions 2 and 3)
    base: int  # absolute address every other address is relative to
    end_of_file: int  # stored end of file (HDF5 compares it with the file's size)

    @property
    def marked_open_for_writing(self) -> bool:
        """Bit 0 (write access) or bit 2 (SWMR write access) of the consistency flags."""
        return self.version >= 2 and bool(self.flags & 0x05)


def read_superblock(path: str | Path) -> Superblock | None:
    """The superblock of an HDF5 file; None when ``path`` holds no HDF5 signature."""
    with open(path, "rb") as fh:
        size = fh.seek(0, 2)
        offset = 0
        while offset + 64 <= size and offset <= _MAX_USERBLOCK:
            fh.seek(offset)
            head = fh.read(64)
            if head[:8] == SIGNATURE:
                return _parse(offset, head)
            offset = 512 if offset == 0 else offset * 2
    return None


def _parse(offset: int, head: bytes) -> Superblock | None:
    version = head[8]
    if version >= 2:
        size_of_offsets, flags, base_at = head[9], head[11], 12
    elif version in (0, 1):
        size_of_offsets, flags, base_at = head[13], 0, 24 if version == 0 else 28
    else:
        return None
    if size_of_offsets not in (2, 4, 8):
        return None

    def address(k: int) -> int:
        start = base_at + k * size_of_offsets
        return int.from_bytes(head[start : start + size_of_offsets], "little")

    return Superblock(offset, version, flags, address(0), address(2))


def is_truncated(path: str | Path) -> bool:
    """The file ends before the end of file its superblock records."""
    block = read_superblock(path)
    return block is not None and Path(path).stat().st_size < block.end_of_file


def marked_open_for_writing(path: str | Path) -> bool:
    block = read_superblock(path)
    return block is not None and block.marked_open_for_writing


def open_for_reading(path: str | Path, recovering: bool = False) -> h5py.File:
    """Open a zoo for reading whether or not a writer has it open (SWMR read).

    Readers take no file lock: HDF5 would otherwise hold a shared lock for as long as the
    reader is open and a driver resuming the zoo could not open it for writing. Writers
    still lock, so two drivers can never write the same zoo.

    A SWMR reader does not compare the stored end of file with the real size, so a file no
    writer has marked is checked for truncation here first (a marked file's end of file is
    a running writer's, or recovery's business). ``recovering``: the caller holds the
    writer lock and will recover the file, so a truncated file is read as far as it goes.
    """
    if not recovering and not marked_open_for_writing(path) and is_truncated(path):
        raise TruncatedZooError(f"{path}: truncated HDF5 file (shorter than its superblock records); if a zoo "
                                "generation stopped on a full disk, rerun it to recover the finished models")
    return h5py.File(path, "r", libver="latest", swmr=True, locking=False)
