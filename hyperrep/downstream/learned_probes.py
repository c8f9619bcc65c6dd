"""Learned probes: a supervised functional readout in the spirit of ProbeGen.

Kahana et al. (ICLR 2025, "Deep Linear Probe Generators for Weight Space Learning") learn
the probe inputs themselves: ``k`` latent codes pass through a shared *deep linear*
generator (a product of linear maps, no nonlinearity: it biases the probes towards
structured inputs without restricting what a single linear map could make), every model
answers the generated probes, and a small head reads the answers. Everything is trained
end to end on the training models' properties, so this is a supervised row ("learned
probes · supervised"), beside the encoder fine-tuned with a property head, never a
self-supervised embedding.

The generator's output is in the models' (normalised) input space; every architecture of a
zoo answers the same probes, so one head serves a zoo of many architectures. The probes
start near a few training-split images when they are given (``init``), else near noise.
Numbers are fitted standardised on the training rows, several properties at once; the
epoch with the lowest validation loss is kept (validation models choose, test models only
score).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from eo_tasks import ConfigError


@dataclass(frozen=True)
class LearnedProbeConfig:
    probes: int = 16  # generated probe inputs
    code_dim: int = 32  # latent code per probe
    generator_width: int = 128  # width of the deep linear generator's hidden maps
    generator_depth: int = 3  # linear maps in the generator
    head_hidden: int = 128
    epochs: int = 12
    batch_size: int = 64
    lr: float = 3e-3
    weight_decay: float = 1e-4
    seed: int = 0

    def __post_init__(self) -> None:
        if min(self.probes, self.code_dim, self.generator_width, self.generator_depth, self.head_hidden,
               self.epochs, self.batch_size) < 1:
            raise ConfigError("learned probes: every size and count must be >= 1")


class ProbeGenerator(nn.Module):
    """``k`` codes -> ``k`` probe inputs of every modality (a deep linear map per modality)."""

    def __init__(self, shapes: dict[str, tuple[int, ...]], cfg: LearnedProbeConfig) -> None:
        super().__init__()
        self.shapes = dict(shapes)
        self.codes = nn.Parameter(torch.randn(cfg.probes, cfg.code_dim))
        self.maps = nn.ModuleDict()
        for name, shape in self.shapes.items():
            dims = [cfg.code_dim] + [cfg.generator_width] * (cfg.generator_depth - 1) + [int(np.prod(shape))]
            self.maps[name] = nn.Sequential(*[nn.Linear(a, b) for a, b in zip(dims[:-1], dims[1:])])

    def forward(self) -> dict[str, torch.Tensor]:
        return {name: self.maps[name](self.codes).reshape(-1, *shape) for name, shape in self.shapes.items()}


class LearnedProbes:
    """fit / predict on rows of one zoo: ``nets[g]`` is the eval-mode network and layout of
    spec group ``g`` (:func:`hyperrep.downstream.probing.group_nets`), ``group[i]`` row ``i``'s."""

    def __init__(self, nets: Sequence[tuple[nn.Module, object]], shapes: dict[str, tuple[int, ...]],
                 classes: int, config: LearnedProbeConfig = LearnedProbeConfig()) -> None:
        self.nets, self.shapes, self.classes, self.config = list(nets), shapes, classes, config
        self.history: list[dict[str, float]] = []

    def _answers(self, gen: ProbeGenerator, weights: np.ndarray, group: np.ndarray) -> torch.Tensor:
        from hyperrep.losses import run_models

        probes = gen()
        parts = []
        for g in np.unique(group):
            rows = np.flatnonzero(group == g)
            net, layout = self.nets[int(g)]
            flat = torch.from_numpy(np.ascontiguousarray(weights[rows, : layout.num_params], np.float32))
            parts.append((rows, run_models(net, layout, flat, probes)))
        out = torch.zeros(len(weights), self.config.probes, self.classes)
        for rows, ans in parts:
            out = out.index_put((torch.from_numpy(rows),), ans)
        return out

    def _loss(self, weights, group, y, gen, head) -> torch.Tensor:
        pred = head(self._answers(gen, weights, group).flatten(1))
        return F.mse_loss(pred, y)

    def fit(self, weights: np.ndarray, group: np.ndarray, y: np.ndarray,
            val: tuple[np.ndarray, np.ndarray, np.ndarray], init: dict[str, torch.Tensor] | None = None
            ) -> LearnedProbes:
        """``y`` ``[N, t]`` numbers (NaN-free); ``val`` = (weights, group, y) of validation rows."""
        cfg = self.config
        torch.manual_seed(cfg.seed)
        y = np.asarray(y, np.float64).reshape(len(y), -1)
        self.mean, self.std = y.mean(0), y.std(0) + 1e-12
        yt = torch.as_tensor((y - self.mean) / self.std, dtype=torch.float32)
        yv = torch.as_tensor((np.asarray(val[2], np.float64).reshape(len(val[2]), -1) - self.mean) / self.std,
                             dtype=torch.float32)
        gen = ProbeGenerator(self.shapes, cfg)
        if init is not None:  # start the probes near training images: the bias of the last map
            with torch.no_grad():
                for name, m in gen.maps.items():
                    m[-1].bias.copy_(init[name][: cfg.probes].mean(0).flatten())
        head = nn.Sequential(nn.LayerNorm(cfg.probes * self.classes), nn.Linear(cfg.probes * self.classes,
                             cfg.head_hidden), nn.GELU(), nn.Linear(cfg.head_hidden, yt.shape[1]))
        params = [*gen.parameters(), *head.parameters()]
        opt = torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
        rng = np.random.default_rng(cfg.seed)
        best, best_state = np.inf, None
        for epoch in range(cfg.epochs):
            order = rng.permutation(len(weights))
            total = 0.0
            for start in range(0, len(order), cfg.batch_size):
                b = order[start:start + cfg.batch_size]
                loss = self._loss(weights[b], group[b], yt[b], gen, head)
                opt.zero_grad()
                loss.backward()
                torch.nn.utils.clip_grad_norm_(params, 1.0)
                opt.step()
                total += loss.item() * len(b)
            with torch.no_grad():
                vloss = float(self._loss(val[0], val[1], yv, gen, head))
            self.history.append({"epoch": epoch + 1, "train_loss": total / len(order), "val_loss": vloss})
            if vloss < best:
                best = vloss
                best_state = ({k: v.clone() for k, v in gen.state_dict().items()},
                              {k: v.clone() for k, v in head.state_dict().items()})
        gen.load_state_dict(best_state[0])
        head.load_state_dict(best_state[1])
        self.generator, self.head = gen.eval(), head.eval()
        return self

    def predict(self, weights: np.ndarray, group: np.ndarray, batch: int = 256) -> np.ndarray:
        outs = []
        with torch.no_grad():
            for start in range(0, len(weights), batch):
                sl = slice(start, start + batch)
                outs.append(self.head(self._answers(self.generator, weights[sl], group[sl]).flatten(1)).numpy())
        pred = np.concatenate(outs) if outs else np.zeros((0, len(self.mean)))
        return pred * self.std + self.mean

    def probes(self) -> dict[str, np.ndarray]:
        with torch.no_grad():
            return {k: v.numpy() for k, v in self.generator().items()}


class ProbeGenPredictor:
    """:class:`LearnedProbes` as a registry predictor: its rows are :func:`probegen_features`
    (each checkpoint's zoo model id, then its zero-padded weights); ``zoo`` is the zoo file
    whose models the rows are, ``source``/``root`` where the initial probes come from."""

    def __init__(self, zoo: str, config: LearnedProbeConfig, source: str = "data", root: str = "") -> None:
        self.zoo, self.config, self.source, self.root = zoo, config, source, root

    def _groups(self, x: np.ndarray) -> np.ndarray:
        return np.array([self.group_of_[int(m)] for m in x[:, 0]], dtype=np.int64)

    def fit(self, x_train: np.ndarray, y_train: np.ndarray, x_val: np.ndarray | None = None,
            y_val: np.ndarray | None = None) -> ProbeGenPredictor:
        from hyperrep.downstream.probing import ProbeConfig, group_nets, probe_set, spec_groups

        if x_val is None or not len(x_val):
            raise ValueError("learned probes choose their epoch on validation models: none given")
        models = np.concatenate([x_train[:, 0], x_val[:, 0]]).astype(np.int64)
        specs, group = spec_groups(self.zoo, models)
        self.group_of_ = {int(m): int(g) for m, g in zip(models, group)}
        self.specs_ = specs
        init = probe_set(self.zoo, ProbeConfig(self.config.probes, self.config.seed, self.source, self.root)).inputs
        shapes = {k: tuple(v.shape[1:]) for k, v in init.items()}
        self.model_ = LearnedProbes(group_nets(specs), shapes, specs[0].num_classes, self.config)
        with torch.random.fork_rng():  # seeded inside, without touching the caller's random state
            self.model_.fit(x_train[:, 1:], self._groups(x_train), y_train,
                            (x_val[:, 1:], self._groups(x_val), y_val), init=init)
        best = int(np.argmin([h["val_loss"] for h in self.model_.history]))
        self.chosen = f"epoch {best + 1} of {self.config.epochs} ({self.config.probes} probes)"
        self.selected_on_val_ = True
        self.n_features_ = x_train.shape[1] - 1
        return self

    def predict(self, x: np.ndarray) -> np.ndarray:
        from hyperrep.downstream.probing import group_nets, spec_groups

        unseen = sorted({int(m) for m in x[:, 0]} - set(self.group_of_))
        if unseen:  # test models: a spec no training model had gets its own (parameter-free) network
            specs, group = spec_groups(self.zoo, unseen)
            index = {spec: i for i, spec in enumerate(self.specs_)}
            for spec in specs:
                if spec not in index:
                    index[spec] = len(self.specs_)
                    self.specs_.append(spec)
                    self.model_.nets += group_nets([spec])
            for m, g in zip(unseen, group):
                self.group_of_[m] = index[specs[g]]
        return self.model_.predict(x[:, 1:], self._groups(x)).ravel()


def probegen_features(data, run) -> np.ndarray:
    """The rows :class:`ProbeGenPredictor` reads: the zoo model id, then the weights."""
    if not data.zoo:
        return "n/a: learned probes run the zoo's models; the rows name no zoo file"
    return np.concatenate([data.rows["model"].to_numpy(np.float32)[:, None], data.weights], axis=1)
