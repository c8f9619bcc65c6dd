"""Reading a zoo: ``Zoo.open(path)`` gives the model table, metrics, layouts, weights and
twins, the stored config and task data, and checkpoint selections split by model.

The file is opened as a SWMR reader, so a zoo that is still being generated can be read
(call :meth:`Zoo.refresh` to see models finished since). Weights are read one checkpoint
at a time; nothing reads the whole weights dataset. Nothing here writes, locks or imports
the writer, so reading works wherever h5py does (``fcntl`` is not needed).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

import h5py
import numpy as np
import pandas as pd

from eo_tasks.data import DEFAULT_FRACTIONS, TaskData, TaskInfo
from eo_tasks.models import Layout, ModelSpec
from zoo.format import (FORMAT, FORMAT_VERSION, STATUS_NAMES, TABLE_COLUMNS, MultipleArchitecturesError,
                        NotAZooError, UnknownLayoutError, UnsupportedVersionError)
from zoo.hdf5 import open_for_reading
from zoo.spec import SparsifyConfig, ZooSpec

if TYPE_CHECKING:
    from zoo.select import Selection

_BYTES_COLUMNS = ("error", "node", "code")
_JSON_COLUMNS = ("spec", "train_config", "overrides")


class Zoo:
    def __init__(self, path: str | Path, file: h5py.File) -> None:
        self.path = Path(path)
        self.file = file
        if file.attrs.get("format") != FORMAT:
            file.close()
            raise NotAZooError(f"{path}: not a hyperzoo zoo file (no format={FORMAT!r} attribute)")
        version = int(file.attrs["format_version"])
        if version > FORMAT_VERSION:
            file.close()
            raise UnsupportedVersionError(f"{path}: zoo format version {version} is newer than this reader "
                                          f"({FORMAT_VERSION})")

    def __repr__(self) -> str:
        if not self.file.id.valid:
            return f"Zoo({str(self.path)!r}, closed)"
        return f"Zoo({str(self.path)!r}, {self.num_models} models, {len(self.epochs)} checkpoints each)"

    @classmethod
    def open(cls, path: str | Path) -> Zoo:
        """The zoo at ``path``: FileNotFoundError when there is none, a ZooFormatError
        (TruncatedZooError, NotAZooError, UnsupportedVersionError) when it is no valid zoo."""
        path = Path(path)
        if not path.exists():
            raise FileNotFoundError(f"{path}: no such zoo file")
        try:
            file = open_for_reading(path)  # raises TruncatedZooError itself
        except (OSError, RuntimeError) as err:  # h5py raises RuntimeError for a damaged superblock
            raise NotAZooError(f"{path}: cannot open as HDF5, not an HDF5 file or damaged ({err})") from err
        return cls(path, file)

    def close(self) -> None:
        if self.file.id.valid:
            self.file.close()

    def __enter__(self) -> Zoo:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def refresh(self) -> None:
        """See what a running writer has flushed since (SWMR)."""
        for name in ("models/status", "models/error", "models/wall_time", "models/finished_at", "models/run",
                     "models/node", "weights"):
            self.file[name].refresh()
        for group in ("metrics", "twins/metrics"):
            if group in self.file:
                for ds in self.file[group].values():
                    ds.refresh()
        if "twins" in self.file:
            self.file["twins/weights"].refresh()
        for cached in ("table", "metrics", "twin_metrics"):
            self.__dict__.pop(cached, None)

    # ---- description --------------------------------------------------------------
    @property
    def num_models(self) -> int:
        return int(self.file.attrs["num_models"])

    @cached_property
    def epochs(self) -> np.ndarray:
        """The kept epochs: checkpoint ``k`` of every model is after epoch ``epochs[k]``."""
        return self.file["epochs"][:].astype(int)

    @cached_property
    def task(self) -> TaskInfo:
        return TaskInfo.from_json(self.file.attrs["task"])

    @cached_property
    def provenance(self) -> dict[str, Any]:
        return json.loads(self.file.attrs["provenance"])

    @property
    def config_text(self) -> str:
        return str(self.file.attrs["config_text"])

    @property
    def runs(self) -> list[dict[str, Any]]:
        return json.loads(self.file.attrs["runs"])

    @cached_property
    def layouts(self) -> list[Layout]:
        archs = self.file["architectures"]
        return [Layout.from_json(archs[str(a)].attrs["layout"]) for a in range(len(archs))]

    @property
    def layout(self) -> Layout:
        """The layout of a zoo with one architecture (MultipleArchitecturesError otherwise)."""
        if len(self.layouts) != 1:
            raise MultipleArchitecturesError(
                f"{self.path} holds {len(self.layouts)} architectures (column 'arch'); use layout_of(model) "
                "or layouts[arch]"
            )
        return self.layouts[0]

    def layout_of(self, model: int) -> Layout:
        return self.layouts[int(self.file["models/arch"][self._model(model)])]

    def arch_of(self, layout: Layout) -> int:
        """The architecture (index into ``layouts``, column ``arch``) whose layout is ``layout``;
        UnknownLayoutError when none is."""
        wanted = layout.to_json()
        for a, candidate in enumerate(self.layouts):
            if candidate.to_json() == wanted:
                return a
        raise UnknownLayoutError(f"{self.path}: no architecture of this zoo has this layout ({layout.num_params} "
                                 f"parameters; the zoo's have {[lay.num_params for lay in self.layouts]})")

    @cached_property
    def config(self) -> ZooSpec:
        """The population config the zoo was made from (its ``config_text``, parsed)."""
        from zoo.spec import spec_from_text

        return spec_from_text(self.config_text, where=f"{self.path} (stored config)")

    def task_data(self, root: str | Path | None = None) -> TaskData:
        """The task's data rebuilt from the stored ``[data]`` config (from the cache when
        unchanged); ``root``: the dataset's folder when it is not where the zoo says (e.g. a
        zoo made on another machine, or an imported public zoo, whose config names no folder).
        DataError with :meth:`no_task_data`'s reason when there is nothing to rebuild it from."""
        from eo_tasks.data import load_task_data

        reason = self.no_task_data(root)
        if reason:
            from eo_tasks.data import DataError

            raise DataError(f"{self.path}: {reason}")
        return load_task_data(self.config.data.resolved(root))

    def no_task_data(self, root: str | Path | None = None) -> str:
        """Why :meth:`task_data` (with ``root``) cannot run, in one sentence; "" when it can be
        tried. Only an imported public zoo (root attribute ``imported``) has a reason: its
        dataset has no reader here, or no folder of its standard files was given."""
        if "imported" not in self.file.attrs:
            return ""
        from eo_tasks.data import PUBLIC_KINDS, files_hint

        data, head = self.config.data, f"no task data in this zoo: {self.path.name} is an imported public zoo " \
                                         f"({self.task.dataset})"
        if data.kind not in PUBLIC_KINDS:
            return f"{head} whose images are not part of eo_tasks, so no accuracy could be measured"
        if root is None and data.root is None:
            return (f"{head} and no folder of its images was given, so no accuracy could be measured; pass "
                    f"--data-root with the folder holding {files_hint(data.kind)}")
        return ""

    def spec(self, model: int) -> ModelSpec:
        return ModelSpec.from_json(self.file["models/spec"][self._model(model)].decode())

    # ---- tables -------------------------------------------------------------------
    @cached_property
    def table(self) -> pd.DataFrame:
        """One row per model (index: model id) with hyperparameters, status, error, wall time."""
        cols: dict[str, Any] = {}
        group = self.file["models"]
        names = [c for c in TABLE_COLUMNS if c in group] + sorted(set(group) - set(TABLE_COLUMNS))
        for name in names:
            values = group[name][:]
            if name == "status":
                values = [STATUS_NAMES[int(v)] for v in values]
            elif name in _BYTES_COLUMNS:
                values = [v.decode("utf-8", errors="replace") for v in values]
            elif values.dtype.kind == "O":
                values = [v.decode() if isinstance(v, bytes) else v for v in values]
            cols[name] = values
        df = pd.DataFrame(cols)
        df.index.name = "model"
        return df

    @cached_property
    def metrics(self) -> pd.DataFrame:
        """Long format: one row per stored checkpoint (model, checkpoint, epoch, metric columns)."""
        return self._long(self.file["metrics"], "checkpoint")

    @staticmethod
    def _long(group: h5py.Group, axis_name: str) -> pd.DataFrame:
        names = list(group)
        arrays = {n: group[n][:] for n in names}
        m, c = arrays[names[0]].shape
        first = "epoch" if "epoch" in arrays else names[0]
        present = np.isfinite(arrays[first]) if first == "epoch" else np.ones((m, c), bool)
        model, col = np.nonzero(present)
        df = pd.DataFrame({"model": model, axis_name: col})
        for n in names:
            df[n] = arrays[n][model, col]
        if "epoch" in df:
            df["epoch"] = df["epoch"].astype(int)
        return df

    # ---- weights ------------------------------------------------------------------
    def _model(self, model: int) -> int:
        m = int(model)
        if not 0 <= m < self.num_models:
            raise IndexError(f"model {model} out of range 0..{self.num_models - 1}")
        return m

    def checkpoint_of(self, epoch: int) -> int:
        hits = np.flatnonzero(self.epochs == int(epoch))
        if hits.size == 0:
            raise KeyError(f"epoch {epoch} is not a kept checkpoint; kept: {self.epochs.tolist()}")
        return int(hits[0])

    def select(self, *, status: Sequence[str] = ("done",), arch: int | Sequence[int] | str | None = None,
               epochs: Sequence[int] | str | None = None, max_abs: float | None = 1e3,
               fractions: Sequence[float] = DEFAULT_FRACTIONS, seed: int = 0) -> Selection:
        """Checkpoints for learning on weights (see :mod:`zoo.select`): models with a status in
        ``status`` of architecture ``arch`` (None: the one they use, else
        MultipleArchitecturesError; ``"all"`` or a sequence of ids: several, split stratified
        per architecture), split by model with ``fractions`` and ``seed``; of them
        the checkpoints of ``epochs`` (None: all stored; a list, or ``"all"``, ``"last:K"``,
        ``"every:K"``: :func:`zoo.select.resolve_epochs`) whose weights are finite and
        ``|w| <= max_abs`` (None: finite only)."""
        from zoo.select import select

        return select(self, status=status, arch=arch, epochs=epochs, max_abs=max_abs, fractions=fractions, seed=seed)

    def weights_many(self, models: Sequence[int], epochs: Sequence[int | None] | None = None) -> np.ndarray:
        """``[N, P]`` float32: ``weights(models[i], epochs[i])`` stacked (models of one architecture)."""
        epochs = [None] * len(models) if epochs is None else list(epochs)
        rows = [self.weights(int(m), None if e is None else int(e)) for m, e in zip(models, epochs)]
        if len({r.size for r in rows}) > 1:
            raise MultipleArchitecturesError(f"{self.path}: the models asked for have different architectures")
        return np.stack(rows).astype(np.float32, copy=False) if rows else np.zeros((0, 0), np.float32)

    def weights(self, model: int, epoch: int | None = None) -> np.ndarray:
        """Flat float32 weights of ``model`` after ``epoch`` (None: its last stored checkpoint)."""
        m = self._model(model)
        stored = np.isfinite(self.file["metrics/epoch"][m])
        if epoch is None:
            if not stored.any():
                raise KeyError(f"model {m} has no stored checkpoint (status {self.table.status.iloc[m]})")
            c = int(np.flatnonzero(stored)[-1])
        else:
            c = self.checkpoint_of(epoch)
            if not stored[c]:
                raise KeyError(f"model {m} has no checkpoint for epoch {epoch} (status {self.table.status.iloc[m]})")
        p = self.layout_of(m).num_params
        return self.file["weights"][m, c, :p]

    def load_model(self, model: int, epoch: int | None = None):
        """The eo_tasks module of ``model`` with its weights after ``epoch`` (eval mode)."""
        from eo_tasks.models import build_model, load_flat

        net = build_model(self.spec(model), seed=0)
        load_flat(net, self.weights(model, epoch))
        return net.eval()

    # ---- sparsified twins ---------------------------------------------------------
    @property
    def twin_ratios(self) -> np.ndarray:
        return self.file["twins/ratios"][:] if "twins" in self.file else np.empty(0)

    @cached_property
    def twin_config(self) -> SparsifyConfig | None:
        """How the stored twins were made (ratios, fine-tune epochs, scope); None without twins."""
        if "twins" not in self.file:
            return None
        attrs = self.file["twins"].attrs
        return SparsifyConfig(ratios=tuple(float(r) for r in self.twin_ratios),
                              finetune_epochs=int(attrs["finetune_epochs"]), scope=str(attrs["scope"]))

    def _twin_row(self, ratio: float) -> int:
        hits = np.flatnonzero(np.isclose(self.twin_ratios, ratio))
        if hits.size == 0:
            raise KeyError(f"no twins with ratio {ratio}; stored ratios: {self.twin_ratios.tolist()}")
        return int(hits[0])

    def twin_weights(self, model: int, ratio: float) -> np.ndarray:
        """Weights of ``model``'s final checkpoint pruned to ``ratio`` and fine-tuned."""
        m, r = self._model(model), self._twin_row(ratio)
        if not np.isfinite(self.file["twins/metrics/sparsity"][m, r]):
            raise KeyError(f"model {m} has no twin with ratio {ratio}")
        return self.file["twins/weights"][m, r, : self.layout_of(m).num_params]

    @cached_property
    def twin_metrics(self) -> pd.DataFrame:
        """Long format: one row per stored twin (model, twin, ratio, metric columns)."""
        if "twins" not in self.file:
            return pd.DataFrame(columns=["model", "twin", "ratio"])
        df = self._long(self.file["twins/metrics"], "twin")
        df = df[np.isfinite(df["sparsity"])].reset_index(drop=True)
        df.insert(2, "ratio", self.twin_ratios[df["twin"].to_numpy()])
        return df

    def load_twin(self, model: int, ratio: float):
        from eo_tasks.models import build_model, load_flat

        net = build_model(self.spec(model), seed=0)
        load_flat(net, self.twin_weights(model, ratio))
        return net.eval()
