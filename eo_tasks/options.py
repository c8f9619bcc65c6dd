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


# --- one command-line vocabulary -------------------------------------------------------------
# The options every command spells alike: one flag, one meaning and one help text wherever they
# appear (tests/test_cli_vocabulary.py walks the whole parser). A command adds them with the
# helpers below, never with its own add_argument.

ZOO_HELP = "zoo HDF5 file (ZOO.h5)"
DATA_ROOT_HELP = ("dataset folder in one of the real layouts (docs/data.md); where optional, it replaces the folder "
                  "the config or the zoo names")
QUIET_HELP = "no progress lines on stderr"
OVERWRITE_HELP = ("replace an output that already exists (without it, an existing output is refused, except that "
                  "`zoo generate`, `hyperrep train` and `hyperrep ablate` resume one made from the same config)")
SEED_HELP = "seed of this command's random draws (default 0): the same seed and inputs give the same output"
FINETUNE_EPOCHS = 1  # --finetune-epochs' default, wherever it appears


def add_zoo_option(p: argparse.ArgumentParser, required: bool = True) -> None:
    p.add_argument("--zoo", required=required, default=None, metavar="ZOO", help=ZOO_HELP)


def add_data_root_option(p: argparse.ArgumentParser, required: bool = False) -> None:
    p.add_argument("--data-root", required=required, default=None, metavar="DIR", help=DATA_ROOT_HELP)


def add_quiet_option(p: argparse.ArgumentParser) -> None:
    p.add_argument("--quiet", action="store_true", help=QUIET_HELP)


def add_overwrite_option(p: argparse.ArgumentParser) -> None:
    p.add_argument("--overwrite", action="store_true", help=OVERWRITE_HELP)


def add_seed_option(p: argparse.ArgumentParser) -> None:
    p.add_argument("--seed", type=int, default=0, help=SEED_HELP)


def add_output_options(p: argparse.ArgumentParser, seed: bool = False) -> None:
    """--quiet and --overwrite (and --seed): what every command that writes takes."""
    add_quiet_option(p)
    add_overwrite_option(p)
    if seed:
        add_seed_option(p)


def refuse_existing(path: object, overwrite: bool, option: str = "--out") -> None:
    """The one error of a command asked to write over an existing output without --overwrite."""
    from pathlib import Path

    target = Path(str(path))
    if not overwrite and (target.is_file() or (target.is_dir() and any(target.iterdir()))):
        raise FileExistsError(f"{option} {target} already exists; pass --overwrite to replace it")


def replace_output(path: object, overwrite: bool, ours: object, what: str, option: str = "--out") -> None:
    """Make way for an output folder: without ``overwrite`` an existing non-empty one is refused;
    with it, it is deleted, but only when ``ours(path)`` says it holds what this command writes
    (``what``), so that a mistyped --out never deletes someone's folder."""
    import shutil
    from pathlib import Path

    target = Path(str(path))
    refuse_existing(target, overwrite, option)
    if not target.exists() or (target.is_dir() and not any(target.iterdir())):
        return
    if target.is_dir() and ours(target):
        shutil.rmtree(target)
        return
    raise FileExistsError(f"{option} {target} exists and does not hold {what}; not replacing it even with --overwrite")


def deprecation_warning(prog: str, old: str, new: str) -> None:
    import sys

    print(f"{prog}: warning: {old} is deprecated and will be removed in the next release; use {new}",
          file=sys.stderr)


class _Deprecated(argparse.Action):
    """An old spelling, accepted for one release: stores into the new option's ``dest`` and prints
    one deprecation line naming the new spelling."""

    def __init__(self, option_strings, dest, new: str = "", **kwargs) -> None:
        self.new = new
        super().__init__(option_strings, dest, **kwargs)

    def __call__(self, parser, namespace, values, option_string=None) -> None:
        if values is None or values == argparse.SUPPRESS:
            return
        deprecation_warning(parser.prog, option_string or f"the positional {self.metavar}", self.new)
        setattr(namespace, self.dest, values)


def add_deprecated_option(p: argparse.ArgumentParser, old: str, new: str, dest: str,
                          metavar: str | None = None) -> None:
    """``old`` (e.g. --root) still works as ``new`` (e.g. --data-root) for one release."""
    p.add_argument(old, dest=dest, action=_Deprecated, new=new, default=argparse.SUPPRESS, metavar=metavar,
                   help=f"deprecated spelling of {new} (removed in the next release)")


def add_deprecated_positional(p: argparse.ArgumentParser, dest: str, new: str, metavar: str) -> None:
    """A positional argument that became the option ``new`` (``zoo info ZOO`` -> ``--zoo ZOO``);
    its value lands in ``dest`` too. Check with :func:`required_option` after parsing."""
    p.add_argument(dest, action=_Deprecated, new=new, nargs="?", default=argparse.SUPPRESS, metavar=metavar,
                   help=f"deprecated: use {new} {metavar} (removed in the next release)")


def required_option(args: argparse.Namespace, dest: str) -> object:
    """The value of an option that an old positional spelling may also give: a ConfigError when
    neither gave it."""
    value = getattr(args, dest, None)
    if value is None:
        raise ConfigError(f"{flag(dest)} is required")
    return value
