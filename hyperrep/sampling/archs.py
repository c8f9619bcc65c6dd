"""Which architecture of a mixed zoo to sample: an index, or a fusion mode by name.

A hyper-representation over several architectures (issue 14) embeds and decodes each with
its own layout, so sampling draws one architecture at a time: anchors of one fusion mode,
draws decoded to that mode's architecture. The choice is a zoo architecture id (column
``arch``, index into ``Zoo.layouts``) or the fusion mode of that architecture's models as
``hyperzoo predict`` names it (``fusion_mode``: the ``fusion`` column, ``late_shared`` for
late fusion with a shared backbone). A run over several architectures and no choice, an
unknown name, or a name two architectures share is a ConfigError listing the choices.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from eo_tasks import ConfigError


def mode_of(arch: object) -> str:
    """A model's fusion mode: ``fusion``, with ``_shared`` for late fusion with one shared
    backbone (an imported zoo's family has no fusion: ``single``)."""
    fusion = str(getattr(arch, "fusion", "single"))
    return fusion + "_shared" if getattr(arch, "shared_backbone", False) else fusion


def arch_modes(zoo_path: str | Path) -> dict[int, str]:
    """Zoo architecture id -> the fusion mode of its models (every architecture with a model;
    the modes of one architecture joined by ``/`` in the unlikely case that two modes share a
    layout)."""
    from eo_tasks.models import ModelSpec
    from zoo import Zoo

    with Zoo.open(zoo_path) as zoo:
        table = zoo.table
    modes: dict[int, set[str]] = {}
    for a, text in table[["arch", "spec"]].drop_duplicates().itertuples(index=False):
        modes.setdefault(int(a), set()).add(mode_of(ModelSpec.from_json(text).arch))
    return {a: "/".join(sorted(m)) for a, m in sorted(modes.items())}


def describe(modes: Mapping[int, str], archs: Sequence[int] | None = None) -> str:
    """``0 (early), 1 (late)``: the architectures to choose from with their modes."""
    keys = sorted(modes) if archs is None else sorted(archs)
    return ", ".join(f"{a} ({modes.get(a, '?')})" for a in keys)


def resolve_arch(choice: int | str | None, modes: Mapping[int, str], allowed: Sequence[int] | None = None,
                 what: str = "the zoo") -> int | None:
    """The architecture id ``choice`` names among ``allowed`` (default: every one in ``modes``).

    ``choice`` is an id (int, or a string of digits) or a fusion mode name. None is fine when
    there is one architecture to choose from (returns None: nothing to pass on); with several
    it is a ConfigError listing them, as is an id not allowed, an unknown name or a name
    several allowed architectures share. ``what`` names the holder in messages (the run).
    """
    allowed = sorted(modes) if allowed is None else sorted(int(a) for a in allowed)
    choices = describe(modes, allowed)
    if choice is None or choice == "":
        if len(allowed) > 1:
            raise ConfigError(
                f"{what} spans architectures {choices}; sampling and sparsification take one at a time: "
                "pass --arch (arch=) with an architecture index or a fusion mode name")
        return None
    text = str(choice).strip()
    if isinstance(choice, int) or text.lstrip("-").isdigit():
        a = int(text)
        if a not in allowed:
            raise ConfigError(f"--arch: architecture {a} is not one of {what}'s: {choices}")
        return a
    hits = [a for a in allowed if text in modes.get(a, "").split("/")]
    if len(hits) == 1:
        return hits[0]
    if not hits:
        raise ConfigError(f"--arch: no architecture of {what} has fusion mode {text!r}; choose one of {choices}")
    raise ConfigError(f"--arch: fusion mode {text!r} names several architectures of {what} "
                      f"({describe(modes, hits)}); pass its index instead, one of {choices}")
