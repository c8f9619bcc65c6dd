"""The run folder of a hyper-representation: what training writes and what loading,
``predict``, ``sample`` and ``sparsify`` read. The format is docs/run-format.md
(version :data:`RUN_FORMAT`); this module is its only writer.

Every file is written to a temporary name in the folder and renamed into place, so a
killed run leaves each file either whole or absent, never half written.
"""

from __future__ import annotations

import csv
import io
import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from eo_tasks import ConfigError, dump_toml, to_dict
from eo_tasks.data import SPLITS

if TYPE_CHECKING:
    import torch

    from eo_tasks.models import Layout
    from hyperrep.config import HyperRepConfig
    from hyperrep.data import WeightSet, ZooWeights
    from hyperrep.run import HyperRep
    from hyperrep.tokens import Standardizer

# docs/run-format.md; incremented when a file or key changes meaning or disappears.
# 2: layout.json and norm.json map architecture ids to a layout / statistics (several archs)
# 3: config.toml has a [function] table; with function tokens, probes.pt and meta.json's
#    "function", and embeddings / the pooled summary hold function latents
RUN_FORMAT = 3
CHECKPOINT = "checkpoint.pt"
PROBES = "probes.pt"  # function tokens' probe set (runs with function.probes > 0 only)
RUN_FILES = ("model.pt", "config.toml", "layout.json", "norm.json", "meta.json")  # what loading needs
# settings that change where and how fast a run computes, not what it computes
RUNTIME_KEYS = ("device", "threads", "checkpoint_every", "eval_batch_size")


def _replace_into(path: Path, write) -> None:
    """``write(tmp)`` then rename ``tmp`` to ``path``: ``path`` is never seen half written."""
    tmp = path.with_name(f".{path.name}.tmp")
    write(tmp)
    os.replace(tmp, path)


def write_text(path: Path, text: str) -> None:
    _replace_into(path, lambda tmp: tmp.write_text(text))


def config_identity(cfg: HyperRepConfig) -> str:
    """The config minus :data:`RUNTIME_KEYS`: a checkpoint resumes only under the same identity."""
    from hyperrep.config import FunctionSection

    raw = to_dict(cfg)
    for key in RUNTIME_KEYS:
        raw["train"].pop(key)
    if raw.get("function") == to_dict(FunctionSection()):  # off: checkpoints from before the table resume
        raw.pop("function")
    return dump_toml(raw)


def split_models(data: WeightSet | ZooWeights) -> dict[str, list[int]]:
    """The model ids of each split, as plain sorted ints (the ``split_models`` of meta.json)."""
    return {s: sorted({int(m) for m in np.asarray(data.model)[data.split == s]}) for s in SPLITS}


def run_meta(data: ZooWeights, rep: HyperRep) -> dict[str, Any]:
    models = split_models(data)
    widths = rep.embedding_dims
    meta = {
        "run_format": RUN_FORMAT,
        "archs": list(rep.archs),
        "dims": rep.dims.to_dict(),
        "layers": [list(key) for key in rep.space.layer_keys],
        "embedding_dims": {str(a): e for a, e in widths.items()},
        "pooled_dim": rep.pooled_dim,
        "source": data.source,
        "specs": [spec.to_json() for ws in data.sets for spec in ws.specs],
        "spec_archs": [ws.arch for ws in data.sets for _ in ws.specs],
        "samples": {s: int((data.split == s).sum()) for s in SPLITS},
        "models": {s: len(ids) for s, ids in models.items()},
        "split_models": models,
        "arch_models": {str(ws.arch): {s: len(ids) for s, ids in split_models(ws).items()} for ws in data.sets},
    }
    if len(set(widths.values())) == 1:  # one length for every model: the format-1 key
        meta["embedding_dim"] = next(iter(widths.values()))
    if rep.probes is not None:
        meta["function"] = rep.probes.describe()
    return meta


def write_static(run: Path, cfg: HyperRepConfig, data: ZooWeights, rep: HyperRep) -> None:
    """The files fixed for the whole run: config.toml, layout.json, norm.json, meta.json (and,
    with function tokens, probes.pt first: meta.json describes it)."""
    import torch

    if rep.probes is not None:
        _replace_into(run / PROBES, lambda tmp: torch.save(rep.probes.state(), tmp))
    write_text(run / "config.toml", dump_toml(to_dict(cfg)))
    layouts = {str(a): json.loads(rep.layouts[a].to_json()) for a in rep.archs}
    norms = {str(a): json.loads(rep.standardizers[a].to_json()) for a in rep.archs}
    write_text(run / "layout.json", json.dumps({"archs": layouts}, indent=1))
    write_text(run / "norm.json", json.dumps({"archs": norms}, indent=1))
    write_text(run / "meta.json", json.dumps(run_meta(data, rep), indent=1))


def read_meta(run: str | Path) -> dict[str, Any]:
    """meta.json of ``run``, refused (ConfigError naming it) when unreadable or written by a
    newer run format than this code reads. A meta.json without ``run_format`` predates the
    versioning and reads as version 1."""
    path = Path(run) / "meta.json"
    try:
        meta = json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise ConfigError(f"{path}: not a run's meta.json ({err})") from err
    if not isinstance(meta, dict):
        raise ConfigError(f"{path}: not a run's meta.json (expected a JSON object)")
    version = meta.get("run_format", 1)
    if not isinstance(version, int) or version > RUN_FORMAT:
        raise ConfigError(f"{path}: run_format {version!r} is newer than this hyperzoo reads ({RUN_FORMAT}); "
                          "update hyperzoo to load this run")
    return meta


def _per_arch(path: Path, meta: dict[str, Any], old_arch: int) -> dict[int, str]:
    """The JSON text of each architecture in layout.json / norm.json: format 1 holds one (its
    id unknown to the file: ``old_arch``), format 2 and later a map ``{"archs": {id: object}}``."""
    text = path.read_text()
    if meta.get("run_format", 1) < 2:
        return {old_arch: text}
    raw = json.loads(text)
    if not isinstance(raw, dict) or not isinstance(raw.get("archs"), dict):
        raise ValueError('expected {"archs": {architecture id: ...}}')
    found = {int(a): json.dumps(obj) for a, obj in raw["archs"].items()}
    order = [int(a) for a in meta.get("archs", sorted(found))]
    if sorted(order) != sorted(found):
        raise ValueError(f"holds architectures {sorted(found)}, meta.json names {order}")
    return {a: found[a] for a in order}


def read_layouts(run: Path, meta: dict[str, Any], old_arch: int = 0) -> dict[int, Layout]:
    """The run's layouts by architecture id (ConfigError naming layout.json when unreadable)."""
    from eo_tasks.models import Layout

    try:
        return {a: Layout.from_json(text) for a, text in _per_arch(run / "layout.json", meta, old_arch).items()}
    except (ValueError, KeyError, TypeError) as err:  # JSON errors are ValueErrors
        raise ConfigError(f"{run / 'layout.json'}: not a layout this code reads ({err})") from err


def read_norms(run: Path, meta: dict[str, Any], layouts: dict[int, Layout]) -> dict[int, Standardizer]:
    """The run's standardisation by architecture id (ConfigError naming norm.json when it does
    not fit the layouts)."""
    from hyperrep.tokens import Standardizer

    try:
        texts = _per_arch(run / "norm.json", meta, next(iter(layouts)))
        if set(texts) != set(layouts):
            raise ValueError(f"architectures {sorted(texts)}, the layouts' are {sorted(layouts)}")
        return {a: Standardizer.from_json(texts[a], layouts[a]) for a in layouts}
    except (ValueError, KeyError, TypeError) as err:
        raise ConfigError(f"{run / 'norm.json'}: does not fit the run's layout ({err})") from err


def read_probes(run: Path) -> dict[str, Any]:
    """probes.pt of a run with function tokens: its plain tensors (hyperrep.function.ProbeSet.state)."""
    import torch

    path = run / PROBES
    if not path.is_file():
        raise FileNotFoundError(f"{run}: a run with function tokens, missing {PROBES}")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # torch raises several types for a damaged or foreign file
        raise ConfigError(f"{path}: not a probe set this code reads ({err})") from err


def read_specs(meta: dict[str, Any], archs: list[int]) -> dict[int, tuple]:
    """The eval specs of each architecture's models (format 1: all of the one architecture's)."""
    from eo_tasks.models import ModelSpec

    specs = [ModelSpec.from_json(text) for text in meta.get("specs", [])]
    owners = meta.get("spec_archs", [archs[0]] * len(specs))
    return {a: tuple(s for s, o in zip(specs, owners) if int(o) == a) for a in archs}


def save_checkpoint(run: Path, state: dict[str, torch.Tensor], optimizer: torch.optim.Optimizer, epoch: int,
                    history: list[dict[str, float]], identity: str) -> None:
    """checkpoint.pt (everything resume needs), then model.pt, then history.csv."""
    import torch

    ckpt = {"model": state, "optimizer": optimizer.state_dict(), "epoch": epoch,
            "history": history, "config": identity}
    for name, obj in ((CHECKPOINT, ckpt), ("model.pt", state)):
        _replace_into(run / name, lambda tmp, obj=obj: torch.save(obj, tmp))
    write_history(run, history)


def load_checkpoint(run: Path) -> dict[str, Any] | None:
    import torch

    path = run / CHECKPOINT
    return torch.load(path, map_location="cpu", weights_only=True) if path.is_file() else None


def write_history(run: Path, history: list[dict[str, float]]) -> None:
    keys: list[str] = []
    for row in history:
        keys += [k for k in row if k not in keys]
    buf = io.StringIO(newline="")
    writer = csv.DictWriter(buf, fieldnames=keys)
    writer.writeheader()
    writer.writerows(history)
    _replace_into(run / "history.csv", lambda tmp: tmp.write_bytes(buf.getvalue().encode()))


def plot_curves(run: Path, history: list[dict[str, float]]) -> None:
    """curves.png: the loss terms (log scale) and the validation R^2 per epoch."""
    from matplotlib.figure import Figure

    if not history:
        return
    epochs = [h["epoch"] for h in history]
    fig = Figure(figsize=(10, 4), layout="tight")
    ax_loss, ax_r2 = fig.subplots(1, 2)
    for key in ("train_loss", "train_contrastive", "train_recon", "train_behaviour", "train_function", "val_recon"):
        if key in history[0]:
            ax_loss.plot(epochs, [h.get(key, np.nan) for h in history], label=key)
    ax_loss.set_yscale("log")
    ax_loss.set_xlabel("epoch")
    ax_loss.legend()
    ax_r2.plot(epochs, [h.get("val_r2", np.nan) for h in history], label="val R^2")
    ax_r2.set_xlabel("epoch")
    ax_r2.set_ylabel("reconstruction R^2 (standardised)")
    ax_r2.legend()
    _replace_into(run / "curves.png", lambda tmp: fig.savefig(tmp, dpi=100, format="png"))
