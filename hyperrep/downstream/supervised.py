"""The supervised row of a property report: the run's encoder fine-tuned with a property head.

Every other feature set is read off frozen weights or a frozen, self-supervised
embedding. This one is not: a copy of the hyper-representation's encoder (tokens ->
latents, :meth:`HyperRepNet.encode_latents`), pooled as the projection head reads it
(:meth:`HyperRepNet.pooled`: mean latent over all tokens and per layer), feeds a small MLP
head, and encoder and head are trained together on the training models' checkpoints to
predict one property: squared error on the property standardised on the training rows
(numbers) or cross-entropy over the training rows' classes (classes). AdamW, the encoder
at a tenth of the head's learning rate, so that it adapts without forgetting what the
self-supervised training put there. The epoch whose weights are kept is chosen on the
validation models (R² for numbers, balanced accuracy for classes), with early stopping
once ``patience`` epochs in a row have not improved on it; test rows are only predicted.
Training batches are the weight-space augmentations the run trained with (neuron
permutations, noise, erasing; whole models, no windows): the property does not change
under them.

The run itself is never changed; everything is seeded, and with the same number of torch
threads two fits give the same predictions.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, replace

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from eo_tasks.train import torch_threads
from hyperrep.augment import Augmenter
from hyperrep.downstream.config import FineTune
from hyperrep.downstream.predictors import Kind, _selection_score, score
from hyperrep.run import HyperRep, resolve_device

# the parts of HyperRepNet that encode_latents reads: the ones fine-tuning trains
ENCODER_PARTS = ("embed_tokens", "enc_pos", "encoder", "enc_norm", "to_latent", "summary", "function")


@dataclass
class FineTuned:
    """Predictions of the rows asked for, and which epoch's weights made them."""

    pred: np.ndarray
    epoch: int  # epochs of training behind the weights kept
    epochs_run: int
    val_score: float  # R² (numbers) or balanced accuracy (classes) of the validation rows; NaN without
    kind: Kind
    history: list[float]  # validation score after every epoch
    selected_on_val: bool = True  # False: no validation rows, the last epoch kept

    @property
    def chosen(self) -> str:
        what = "R²" if self.kind == "number" else "bal. acc"
        val = f", val {what} {self.val_score:.3f}" if np.isfinite(self.val_score) else ""
        return f"epoch={self.epoch} of {self.epochs_run}{val}"


class _Regressor(nn.Module):
    """Encoder copy + head: tokens -> pooled latents -> standardised -> MLP."""

    def __init__(self, net: nn.Module, width: int, hidden: int, out: int) -> None:
        super().__init__()
        self.net = net
        self.head = nn.Sequential(nn.Linear(width, hidden), nn.GELU(), nn.Linear(hidden, out))
        self.register_buffer("mean", torch.zeros(width))
        self.register_buffer("scale", torch.ones(width))

    def pooled(self, tokens: torch.Tensor, positions: torch.Tensor, responses: torch.Tensor | None = None
               ) -> torch.Tensor:
        return self.net.pooled(self.net.encode_latents(tokens, positions, responses), positions)

    def forward(self, tokens: torch.Tensor, positions: torch.Tensor, responses: torch.Tensor | None = None
                ) -> torch.Tensor:
        return self.head((self.pooled(tokens, positions, responses) - self.mean) / self.scale)


def run_archs(rep: HyperRep, layouts: dict, row_archs: np.ndarray) -> np.ndarray:
    """The run's architecture id of every row: ``layouts`` maps the rows' (zoo) architecture
    ids ``row_archs`` to layouts, matched to the run's architectures by layout."""
    ids = {}
    for zoo_arch, layout in layouts.items():
        found = [a for a in rep.archs if rep.layouts[a] == layout]
        if not found:
            raise ValueError(f"the run has no architecture with the layout of the zoo's architecture {zoo_arch}")
        ids[int(zoo_arch)] = found[0]
    return np.array([ids[int(a)] for a in row_archs], dtype=np.int64)


class _Rows:
    """Weights of some rows, batched one architecture at a time, standardised and tokenised
    on the device."""

    def __init__(self, rep: HyperRep, weights: np.ndarray, archs: np.ndarray, device: torch.device,
                 responses: np.ndarray | None = None) -> None:
        self.rep, self.weights, self.archs, self.device = rep, weights, archs, device
        self.responses = responses  # [N, K, classes]: the function tokens of a run that has them

    def tokens(self, a: int, rows: np.ndarray, augmenter: Augmenter | None = None,
               generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        """(tokens ``[B, T, D]``, positions ``[B, T, 4]``, function tokens or None) of ``rows``
        (all of architecture ``a``). The function tokens are the rows' own: an augmented view's
        would be its models' answers, so fine-tuning with augmentations keeps them fixed."""
        w = torch.from_numpy(np.ascontiguousarray(self.weights[rows, : self.rep.layouts[a].num_params]))
        flat = self.rep.standardizers[a].forward(w.float().to(self.device))
        tok = augmenter.view(flat, generator).inputs if augmenter is not None else self.rep.tokenizers[a].tokenize(flat)
        resp = None if self.responses is None else torch.from_numpy(self.responses[rows]).float().to(self.device)
        return tok, self.rep.space.position_table(a, self.device).expand(len(rows), -1, -1), resp

    def batches(self, rows: np.ndarray, size: int, generator: torch.Generator | None = None
                ) -> list[tuple[int, np.ndarray]]:
        """(architecture, rows) batches of ``rows``: in order, or shuffled with ``generator``."""
        out = []
        for a in sorted(set(self.archs[rows].tolist())):
            mine = rows[self.archs[rows] == a]
            if generator is not None:
                mine = mine[torch.randperm(len(mine), generator=generator).numpy()]
            out += [(a, mine[i : i + size]) for i in range(0, len(mine), size)]
        if generator is not None and len(out) > 1:
            out = [out[i] for i in torch.randperm(len(out), generator=generator).tolist()]
        return out


def fine_tune(rep: HyperRep, weights: np.ndarray, archs: np.ndarray | int, kind: Kind, values: np.ndarray,
              train: np.ndarray, val: np.ndarray, predict: np.ndarray, *, seed: int = 0,
              options: FineTune = FineTune()) -> FineTuned:
    """Fine-tune a copy of ``rep``'s encoder with a head on rows ``train`` (boolean masks or
    indices into ``weights``/``values``), choose the epoch on rows ``val``, predict rows
    ``predict``. ``archs``: the run's architecture of every row (or one for all);
    ``values``: the encoded property (numbers, or class labels as str). Only the values of
    the training and validation rows are read."""
    train, val, predict = (np.flatnonzero(m) if np.asarray(m).dtype == bool else np.asarray(m, np.int64)
                           for m in (train, val, predict))
    archs = np.full(len(weights), archs, np.int64) if np.isscalar(archs) else np.asarray(archs, np.int64)
    device = resolve_device(options.device or rep.config.train.device)
    with torch_threads(options.threads):
        with torch.random.fork_rng(devices=[device.index or 0] if device.type == "cuda" else []):
            torch.manual_seed(seed)
            model, decode, fitted = _fit(rep, weights, archs, kind, values, train, val, seed, options, device)
        fitted.pred = decode(_outputs(model, _Rows(rep, weights, archs, device), predict, options.eval_batch_size))
    return fitted


class SupervisedEncoder:
    """:func:`fine_tune` as a predictor (``fit``/``predict``) of the registry: its rows are
    :func:`encoder_features`, the run's architecture id of a checkpoint then its weights."""

    def __init__(self, kind: Kind, rep: HyperRep, options: FineTune, seed: int) -> None:
        self.kind, self.rep, self.options, self.seed = kind, rep, options, seed

    def fit(self, x_train: np.ndarray, y_train: np.ndarray, x_val: np.ndarray | None = None,
            y_val: np.ndarray | None = None) -> SupervisedEncoder:
        x_val = x_train[:0] if x_val is None else x_val
        y_val = np.asarray(y_train)[:0] if y_val is None else y_val
        x = np.concatenate([x_train, x_val])
        values = np.concatenate([np.asarray(y_train), np.asarray(y_val)])
        train, val = np.arange(len(x_train)), np.arange(len(x_train), len(x))
        self.device_ = resolve_device(self.options.device or self.rep.config.train.device)
        with torch_threads(self.options.threads), torch.random.fork_rng(
                devices=[self.device_.index or 0] if self.device_.type == "cuda" else []):
            torch.manual_seed(self.seed)
            archs, responses, weights = _split_features(self.rep, x)
            self.model_, self.decode_, self.fitted_ = _fit(self.rep, weights, archs, self.kind,
                                                          values, train, val, self.seed, self.options, self.device_,
                                                          responses)
        self.selected_on_val_ = self.fitted_.selected_on_val
        self.chosen = self.fitted_.chosen
        self.n_features_ = weights.shape[1]
        return self

    def predict(self, x: np.ndarray) -> np.ndarray:
        archs, responses, weights = _split_features(self.rep, x)
        rows = _Rows(self.rep, weights, archs, self.device_, responses)
        with torch_threads(self.options.threads):
            return self.decode_(_outputs(self.model_, rows, np.arange(len(x)), self.options.eval_batch_size))


def encoder_features(rep: HyperRep, weights: np.ndarray, layouts: dict, row_archs: np.ndarray,
                     specs: list | None = None) -> np.ndarray:
    """The supervised predictor's rows: the run's architecture id of each checkpoint
    (:func:`run_archs`), the number R of function-token values, the R values (the
    checkpoint's outputs on the run's probes, as ``specs`` (one per row) run it; R = 0 for a
    run without function tokens), then its (zero-padded) weights."""
    archs = run_archs(rep, layouts, row_archs)
    responses = np.zeros((len(weights), 0), np.float32)
    if rep.reader is not None:
        if specs is None:
            raise ValueError("a run with function tokens runs the models: give each row's spec")
        for a in sorted(set(archs.tolist())):
            rows = np.flatnonzero(archs == a)
            flat = torch.from_numpy(np.ascontiguousarray(weights[rows, : rep.layouts[a].num_params])).float()
            with torch.no_grad():
                resp = rep.responses(rep.standardizers[a].forward(flat.to(rep.device)), a, [specs[i] for i in rows])
            if responses.shape[1] == 0:
                responses = np.zeros((len(weights), resp[0].numel()), np.float32)
            responses[rows] = resp.flatten(1).cpu().numpy()
    width = np.full((len(weights), 1), responses.shape[1], weights.dtype)
    return np.concatenate([archs[:, None].astype(weights.dtype), width, responses, weights], axis=1)


def _split_features(rep: HyperRep, x: np.ndarray) -> tuple[np.ndarray, np.ndarray | None, np.ndarray]:
    """(architectures, function tokens ``[N, K, classes]`` or None, weights) of :func:`encoder_features` rows."""
    r = int(x[0, 1]) if len(x) else 0
    responses = None
    if r:
        k = rep.net.num_function
        responses = x[:, 2:2 + r].reshape(len(x), k, r // k).astype(np.float32)
    return x[:, 0].astype(np.int64), responses, x[:, 2 + r:]


def _targets(kind: Kind, values: np.ndarray, train: np.ndarray):
    """(training targets tensor, decode predictions -> property values, head outputs)."""
    if kind == "number":
        y = np.asarray(values[train], np.float64)
        mean, sd = float(y.mean()), float(y.std()) or 1.0
        return torch.tensor((y - mean) / sd, dtype=torch.float32), lambda out: out[:, 0] * sd + mean, 1
    classes = np.unique(np.asarray(values[train]).astype(str))
    y = np.searchsorted(classes, np.asarray(values[train]).astype(str))
    return torch.tensor(y, dtype=torch.long), lambda out: classes[out.argmax(1)], len(classes)


def _fit(rep: HyperRep, weights: np.ndarray, archs: np.ndarray, kind: Kind, values: np.ndarray, train: np.ndarray,
         val: np.ndarray, seed: int, opt: FineTune, device: torch.device, responses: np.ndarray | None = None):
    """(the model with the chosen epoch's weights, head outputs -> property values, how it was
    fitted; its ``pred`` is empty)."""
    y_train, decode, outputs = _targets(kind, values, train)
    y_of = {int(r): i for i, r in enumerate(train)}  # row -> position in y_train
    rows = _Rows(rep, weights, archs, device, responses)
    model = _Regressor(copy.deepcopy(rep.net).to(device), rep.pooled_dim, opt.hidden, outputs).to(device)
    _standardise_inputs(model, rows, train, opt.eval_batch_size)
    encoder = [p for n, p in model.net.named_parameters() if n.split(".")[0] in ENCODER_PARTS]
    optimizer = torch.optim.AdamW([{"params": model.head.parameters(), "lr": opt.lr},
                                   {"params": encoder, "lr": opt.lr * opt.encoder_lr_factor}],
                                  weight_decay=opt.weight_decay)
    augment_cfg = replace(rep.config.augment, window=0)  # whole models: the head reads all tokens
    augmenters = {a: Augmenter(rep.tokenizers[a], augment_cfg) for a in rep.archs} if opt.augment else {}
    generator = torch.Generator().manual_seed(seed)
    view_gen = torch.Generator(device=device).manual_seed(seed + 1)
    keep = [n for n in model.state_dict() if not n.startswith("net.") or n.split(".")[1] in ENCODER_PARTS]
    y_val = np.asarray(values[val]) if len(val) else None
    best, best_epoch, state, history = -np.inf, 0, None, []
    for epoch in range(1, opt.epochs + 1):
        model.train()
        for a, batch in rows.batches(train, opt.batch_size, generator):
            if len(batch) < 2 and len(train) >= 2:
                continue  # a batch of one row gives a noisy step (and no variance for LayerNorm stats)
            tokens, positions, responses = rows.tokens(a, batch, augmenters.get(a), view_gen)
            out = model(tokens, positions, responses)
            target = y_train[[y_of[int(r)] for r in batch]].to(device)
            loss = F.mse_loss(out[:, 0], target) if kind == "number" else F.cross_entropy(out, target)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if opt.clip_grad > 0:
                nn.utils.clip_grad_norm_(model.parameters(), opt.clip_grad)
            optimizer.step()
        if y_val is None:
            continue
        pred = decode(_outputs(model, rows, val, opt.eval_batch_size))
        history.append(_val_score(kind, y_val, pred))
        # the selection score (squared error or balanced accuracy); ">": ties keep the earlier epoch
        s = _selection_score(kind, y_val, pred)
        if s > best:
            best, best_epoch = s, epoch
            state = {n: v.detach().clone() for n, v in model.state_dict().items() if n in keep}
        elif epoch - best_epoch >= opt.patience:
            break
    epochs_run = epoch
    if state is not None:
        model.load_state_dict(state, strict=False)
    else:
        best_epoch = epochs_run
    val_score = history[best_epoch - 1] if history else float("nan")
    return model, decode, FineTuned(np.zeros(0), best_epoch, epochs_run, val_score, kind, history,
                                    selected_on_val=y_val is not None)


def _val_score(kind: Kind, true: np.ndarray, pred: np.ndarray) -> float:
    return score(kind, true, pred)["r2" if kind == "number" else "balanced_accuracy"]


@torch.no_grad()
def _outputs(model: _Regressor, rows: _Rows, which: np.ndarray, batch_size: int, pooled: bool = False) -> np.ndarray:
    """Head outputs (or pooled latents) of rows ``which``, in their order."""
    model.eval()
    out, where = None, {int(r): i for i, r in enumerate(which)}
    for a, batch in rows.batches(which, batch_size):
        tokens, positions, responses = rows.tokens(a, batch)
        res = (model.pooled if pooled else model)(tokens, positions, responses).float().cpu().numpy()
        if out is None:
            out = np.zeros((len(which), res.shape[1]), np.float32)
        out[[where[int(r)] for r in batch]] = res
    return out if out is not None else np.zeros((0, 1), np.float32)


def _standardise_inputs(model: _Regressor, rows: _Rows, train: np.ndarray, batch_size: int) -> None:
    """The head reads the pooled latents standardised with the training rows' statistics
    under the self-supervised encoder (fixed from then on, as a scaler fitted on them)."""
    pooled = _outputs(model, rows, train, batch_size, pooled=True).astype(np.float64)
    model.mean.copy_(torch.as_tensor(pooled.mean(0), dtype=torch.float32))
    sd = pooled.std(0)
    model.scale.copy_(torch.as_tensor(np.where(sd > 1e-8, sd, 1.0), dtype=torch.float32))
