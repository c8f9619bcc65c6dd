"""Permutation alignment of two models of one layout (weight matching).

Hidden neurons can be permuted without changing what a network computes, so a plain
Euclidean distance between two flat weight vectors overstates how different they are.
:func:`align` permutes model ``b`` towards model ``a`` group by group: for a symmetry
group, each neuron is described by everything the group moves with it (its incoming
weights and bias, and the next layer's weights that read it), the neuron-to-neuron
similarity is the dot product of those descriptions, and the best one-to-one match is a
linear assignment. A neuron's description also contains axes moved by *other* groups,
so the groups are revisited until no permutation changes (coordinate ascent).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from einops import rearrange
from scipy.optimize import linear_sum_assignment

from eo_tasks.models import AxisBlock, Layout, SymmetryGroup


@dataclass(frozen=True)
class Alignment:
    perms: dict[str, np.ndarray]  # group -> permutation applied to b (new i = old perm[i])
    index: np.ndarray  # gather index: b[index] is b aligned to a
    distance: float  # ||a - b[index]||
    plain_distance: float  # ||a - b||
    sweeps: int


def _member_rows(flat: np.ndarray, layout: Layout, group: SymmetryGroup, m: AxisBlock) -> np.ndarray:
    """The member's values as ``[group.size, features]``: one row per neuron."""
    t = layout.tensor_map[m.tensor]
    view = np.moveaxis(flat[t.offset : t.offset + t.size].reshape(t.shape), m.axis, 0)
    region = view[m.start : m.start + group.size * m.block]
    return rearrange(region, "(n b) ... -> n (b ...)", n=group.size)


def _independent_members(layout: Layout) -> dict[str, tuple[AxisBlock, ...]]:
    """Per group, the members none of whose other axes a *later* group moves.

    On the first sweep these are the only trustworthy features: axes moved by earlier
    groups are already aligned, axes moved by later ones are not yet.
    """
    order = {g.name: k for k, g in enumerate(layout.groups)}
    touched: dict[str, list[tuple[int, str]]] = {}
    for g in layout.groups:
        for m in g.members:
            touched.setdefault(m.tensor, []).append((m.axis, g.name))
    out = {}
    for g in layout.groups:
        keep = tuple(
            m
            for m in g.members
            if all(order[other] <= order[g.name] for axis, other in touched[m.tensor] if axis != m.axis)
        )
        out[g.name] = keep or g.members
    return out


def align(a: np.ndarray, b: np.ndarray, layout: Layout, max_sweeps: int = 10) -> Alignment:
    """Permute ``b`` (flat, layout order) to match ``a``; returns the permutations and distances."""
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    if a.shape != (layout.num_params,) or b.shape != (layout.num_params,):
        raise ValueError(f"align needs two flat vectors of {layout.num_params} weights, got {a.shape} and {b.shape}")
    perms = {g.name: np.arange(g.size) for g in layout.groups}
    first = _independent_members(layout)
    sweeps = 0
    for sweeps in range(1, max_sweeps + 1):
        changed = False
        for g in layout.groups:
            if g.size < 2:
                continue
            current = b[layout.permutation_index(perms)]
            members = first[g.name] if sweeps == 1 else g.members
            fa = np.concatenate([_member_rows(a, layout, g, m) for m in members], axis=1)
            fb = np.concatenate([_member_rows(current, layout, g, m) for m in members], axis=1)
            _, cols = linear_sum_assignment(fa @ fb.T, maximize=True)
            if not np.array_equal(cols, np.arange(g.size)):
                perms[g.name] = perms[g.name][cols]
                changed = True
        if not changed and sweeps > 1:
            break
    index = layout.permutation_index(perms)
    return Alignment(
        perms=perms,
        index=index,
        distance=float(np.linalg.norm(a - b[index])),
        plain_distance=float(np.linalg.norm(a - b)),
        sweeps=sweeps,
    )


def aligned_distances(
    sample: np.ndarray, references: np.ndarray, layout: Layout, max_sweeps: int = 10
) -> tuple[np.ndarray, np.ndarray]:
    """Aligned and plain distances from one flat ``sample`` to each row of ``references``."""
    aligned = np.empty(len(references))
    plain = np.empty(len(references))
    for k, ref in enumerate(references):
        result = align(ref, sample, layout, max_sweeps)
        aligned[k], plain[k] = result.distance, result.plain_distance
    return aligned, plain
