"""Checking command-line options where they enter, before anything runs.

Each subcommand declares the range of its numeric options (scikit-learn's parameter
constraints, in small): ``check_options(args, {"n": Interval(1, None, integer=True)})``
raises a :class:`~eo_tasks.config.ConfigError` that names the option as the user typed
it and what it expected, e.g. ``--n: expected an integer >= 1, got 0``.
"""

from __future__ import annotations

import argparse
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass

from eo_tasks.config import ConfigError

DEVICE = re.compile(r"auto|cpu|mps|cuda(:\d+)?")


def flag(dest: str) -> str:
    """argparse's ``dest`` -> the option as typed: ``finetune_epochs`` -> ``--finetune-epochs``."""
    return "--" + dest.replace("_", "-")


def option_error(option: str, expected: str, got: object) -> ConfigError:
    return ConfigError(f"{option}: expected {expected}, got {got!r}")


@dataclass(frozen=True)
class Interval:
    """Numbers from ``low`` to ``high`` (None: unbounded); ``closed`` says which ends belong."""

    low: float | None = None
    high: float | None = None
    closed: str = "both"  # "both" | "left" | "right" | "neither"
    integer: bool = False

    def __contains__(self, value: object) -> bool:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return False
        if not math.isfinite(value) or (self.integer and not float(value).is_integer()):
            return False
        lo_ok = self.low is None or value > self.low or (value == self.low and self.closed in ("both", "left"))
        hi_ok = self.high is None or value < self.high or (value == self.high and self.closed in ("both", "right"))
        return lo_ok and hi_ok

    def __str__(self) -> str:
        what = "an integer" if self.integer else "a number"
        if self.low is not None and self.high is not None:
            left = "[" if self.closed in ("both", "left") else "("
            right = "]" if self.closed in ("both", "right") else ")"
            return f"{what} in {left}{self.low:g}, {self.high:g}{right}"
        if self.low is not None:
            return f"{what} {'>=' if self.closed in ('both', 'left') else '>'} {self.low:g}"
        if self.high is not None:
            return f"{what} {'<=' if self.closed in ('both', 'right') else '<'} {self.high:g}"
        return f"a finite {what.split()[-1]}"


NON_NEGATIVE_INT = Interval(0, None, integer=True)
POSITIVE_INT = Interval(1, None, integer=True)
SEED = NON_NEGATIVE_INT  # numpy and torch generators take seeds >= 0


def check_options(args: argparse.Namespace, constraints: Mapping[str, Interval]) -> None:
    """Raise ConfigError for the first option (by ``dest``) outside its interval; None passes
    (an option left unset). A list value (``nargs``) is checked item by item."""
    for dest, interval in constraints.items():
        value = getattr(args, dest)
        for item in value if isinstance(value, (list, tuple)) else [value]:
            if item is not None and item not in interval:
                raise option_error(flag(dest), str(interval), item)


def check_device(name: str | None, option: str = "--device") -> None:
    """A device name torch accepts here: auto, cpu, mps, cuda or cuda:N (None: unset)."""
    if name is None:
        return
    if not DEVICE.fullmatch(name):
        raise option_error(option, "auto, cpu, mps, cuda or cuda:N", name)
    if name.startswith("cuda"):
        import torch

        if not torch.cuda.is_available():
            raise ConfigError(f"{option}: {name!r} requested but CUDA is not available here; use cpu or auto")
