"""Training a hyper-representation on a zoo's weights, with checkpoints and resume.

Every epoch draws its batches and augmentations from a generator seeded by
``(seed, epoch)`` and seeds dropout's global RNG the same way inside a fork, so a run
resumed from its last checkpoint continues exactly as if it had never stopped (on CPU).
What the run folder holds, and what a killed run leaves there: docs/run-format.md
(written by :mod:`hyperrep.runfolder`).

Over several architectures every batch holds models of one architecture (so the
transformer needs no padding, and the per-layer losses and standardisation are that
architecture's): each epoch splits every architecture's training rows into batches and
visits all of them in one seeded random order, so an architecture gets steps in proportion
to its training rows. One architecture draws exactly the batches it always did.

With function tokens (``[function] probes = K``) the probe set is drawn at the first start
and stored in the run folder; every step runs each view's augmented weights on the probes, and
the decoder also reconstructs the clean batch's responses (``train_function``, ``function.recon``).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from eo_tasks import ConfigError
from eo_tasks.train import torch_threads
from hyperrep.augment import Augmenter, View
from hyperrep.behaviour import Behaviour, behaviour_pool, behaviour_setup, probe_inputs
from hyperrep.config import HyperRepConfig
from hyperrep.data import WeightSet, ZooWeights
from hyperrep.function import ProbeSet, check_specs, fit_probe_set, view_responses
from hyperrep.losses import R2Meter, behaviour_mse, layer_mse, nt_xent
from hyperrep.run import HyperRep, resolve_device
from hyperrep.runfolder import (
    CHECKPOINT, PROBES, RUNTIME_KEYS, config_identity, load_checkpoint, plot_curves, read_layouts, read_meta,
    read_norms, read_probes, save_checkpoint, write_history, write_static,
)
from hyperrep.tokens import Standardizer, TokenSpace
from hyperrep.world import World

Progress = Callable[[str], None]
# names callers import from here (the run folder's and the behavioural loss's moved out)
__all__ = ["Behaviour", "CHECKPOINT", "RUNTIME_KEYS", "Trainer", "TrainOutcome", "lr_factor", "plot_curves",
           "probe_inputs", "train_hyperrep", "write_history"]


@dataclass
class TrainOutcome:
    rep: HyperRep
    history: list[dict[str, float]]
    run_dir: Path
    resumed_from: int  # epochs already done when this call started


def lr_factor(step: int, total: int, cfg_schedule: str, warmup: float) -> float:
    """Multiplier of the base LR at ``step`` of ``total``."""
    if cfg_schedule == "onecycle":  # linear up for 30 %, cosine down to ~0
        peak = max(1, int(0.3 * total))
        if step < peak:
            return 0.04 + 0.96 * step / peak
        t = (step - peak) / max(1, total - peak)
        return 0.5 * (1 + math.cos(math.pi * t)) + 1e-4
    warm = int(warmup * total)
    if step < warm:
        return (step + 1) / (warm + 1)
    if cfg_schedule == "constant":
        return 1.0
    t = (step - warm) / max(1, total - warm)
    return 0.5 * (1 + math.cos(math.pi * min(t, 1.0)))


def _epoch_generator(seed: int, epoch: int, device: torch.device) -> torch.Generator:
    return torch.Generator(device=device).manual_seed(seed * 1_000_003 + epoch)


def _batches(n: int, batch_size: int, generator: torch.Generator) -> list[torch.Tensor]:
    order = torch.randperm(n, generator=generator, device=generator.device).cpu()
    batches = list(order.split(batch_size))
    if len(batches) > 1 and len(batches[-1]) < 2:  # NT-Xent needs pairs
        batches.pop()
    return [b for b in batches if len(b) >= 2]


def _epoch_batches(sizes: dict[int, int], batch_size: int,
                   generator: torch.Generator) -> list[tuple[int, torch.Tensor]]:
    """(architecture, training-row indices) of every step of an epoch: one architecture's
    batches exactly as :func:`_batches` draws them; several, all batches in a seeded order."""
    steps = [(a, b) for a, n in sizes.items() for b in _batches(n, batch_size, generator)]
    if len(sizes) == 1:
        return steps
    order = torch.randperm(len(steps), generator=generator, device=generator.device).cpu()
    return [steps[i] for i in order.tolist()]


class Trainer:
    def __init__(self, data: WeightSet | ZooWeights, cfg: HyperRepConfig, run_dir: Path, progress: Progress | None,
                 world: World = World()) -> None:
        """``data``: one architecture's weights or several's; ``world``: this process's place
        among data-parallel workers (hyperrep.distributed); only its chief reports progress
        and writes the run folder."""
        self.data = ZooWeights.of(data)
        self.run_dir = run_dir
        self.world = world
        self.progress = (progress if world.chief else None) or (lambda _msg: None)
        self.device = resolve_device(cfg.train.device)
        space = TokenSpace(self.data.layouts, cfg.tokens.token_size, cfg.tokens.max_token_size)
        self.cfg = cfg.with_token_size(space.token_size)
        self.train_rows = {ws.arch: ws.rows("train") for ws in self.data.sets}
        self.val_rows = {ws.arch: ws.rows("val") for ws in self.data.sets}
        per_token = cfg.model.embedding == "tokens"
        window = any(0 < cfg.augment.window < t.num_tokens for t in space.tokenizers.values())
        if window and per_token and cfg.model.pool == "flat":
            raise ConfigError("model.pool = \"flat\" needs whole models; with augment.window > 0 use pool = \"mean\"")
        if space.num_archs > 1 and per_token and cfg.model.pool == "flat":
            raise ConfigError(f"model.pool = \"flat\" needs one embedding length; the weights span architectures "
                              f"{list(space.archs)}: use pool = \"mean\" (or select one with [data] arch)")
        total = sum(len(r) for r in self.train_rows.values())
        if total < 2:
            raise ConfigError(f"{self.data.source or 'the weights'}: the training split has {total} "
                              "checkpoint(s), need at least 2 (select more with [data] status, epochs, min_epoch)")
        empty = [a for a, r in self.train_rows.items() if len(r) == 0]
        if empty:
            raise ConfigError(f"{self.data.source or 'the weights'}: architectures {empty} have no training "
                              "checkpoints (select others with [data] arch)")
        if cfg.function.probes > 0:
            check_specs(self.data, {a: [*self.train_rows[a], *self.val_rows[a]] for a in self.train_rows})

    # ---- run folder (hyperrep.runfolder) ----------------------------------------------
    def _identity(self) -> str:
        return config_identity(self.cfg)

    def _prepare(self) -> tuple[HyperRep, torch.optim.Optimizer, int, list[dict[str, float]]]:
        cfg, run = self.cfg, self.run_dir
        run.mkdir(parents=True, exist_ok=True)
        ckpt_path = run / CHECKPOINT
        ckpt = load_checkpoint(run)
        if ckpt is not None and ckpt["config"] != self._identity():
            raise ConfigError(
                f"{ckpt_path}: holds a run with a different config; pass --overwrite to replace it, use a new "
                f"--out folder, or the config in {run / 'config.toml'} to resume"
            )
        layouts = self.data.layouts
        if ckpt is not None and (run / "norm.json").is_file() and (run / "meta.json").is_file():
            meta = read_meta(run)
            kept = read_layouts(run, meta, next(iter(layouts)))
            if list(kept) != list(layouts) or any(kept[a] != layouts[a] for a in layouts):
                raise ConfigError(f"{run / 'layout.json'}: the run's architectures are not the ones selected now")
            std = read_norms(run, meta, layouts)
        else:
            std = {ws.arch: Standardizer.fit(ws.layout, ws.weights[self.train_rows[ws.arch]])
                   for ws in self.data.sets}
        probes = None
        if cfg.function.probes > 0:  # drawn once per run: a resumed run reads them back
            probes = ProbeSet.from_state(read_probes(run), cfg.function, str(run / PROBES)) \
                if ckpt is not None and (run / PROBES).is_file() \
                else fit_probe_set(self.data, self.train_rows, cfg.function, self.device)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(cfg.train.seed)
            rep = HyperRep(cfg, layouts, std, device=self.device, specs={ws.arch: ws.specs for ws in self.data.sets},
                           probes=probes)
        optimizer = torch.optim.AdamW(rep.net.parameters(), lr=cfg.train.lr, weight_decay=cfg.train.weight_decay)
        start, history = 0, []
        if ckpt is not None:
            rep.net.load_state_dict(ckpt["model"])
            optimizer.load_state_dict(ckpt["optimizer"])
            start = int(ckpt["epoch"])
            history = [dict(h) for h in ckpt["history"]]
            self.progress(f"resuming {run} after epoch {start}")
        self.world.broadcast(rep.net)
        if self.world.chief:
            self._write_static(rep)
        return rep, optimizer, start, history

    def _write_static(self, rep: HyperRep) -> None:
        write_static(self.run_dir, self.cfg, self.data, rep)

    def _save(self, rep: HyperRep, optimizer: torch.optim.Optimizer, epoch: int,
              history: list[dict[str, float]]) -> None:
        state = {k: v.detach().cpu() for k, v in rep.net.state_dict().items()}
        save_checkpoint(self.run_dir, state, optimizer, epoch, history, self._identity())

    def _behaviour_setup(self, rep: HyperRep) -> dict[int, Behaviour]:
        """One Behaviour per architecture, all with one pool of probe inputs."""
        lc, seed = self.cfg.loss, self.cfg.train.seed
        pool = behaviour_pool(self.data.sets[0], lc, seed, self.device, self.data.specs)
        return {ws.arch: behaviour_setup(ws, self.train_rows[ws.arch], rep.layouts[ws.arch], lc, seed, self.device,
                                         pool) for ws in self.data.sets}

    # ---- steps --------------------------------------------------------------------------
    def _loss(self, rep: HyperRep, arch: int, views: tuple[View, View], behaviour: Behaviour | None,
              spec_ids: torch.Tensor | None, amp: bool, generator: torch.Generator,
              responses: tuple[torch.Tensor, ...] | None = None) -> tuple[torch.Tensor, dict[str, float]]:
        """``responses``: with function tokens, those of view 1, view 2 and the clean batch."""
        cfg = self.cfg.loss
        tok = rep.tokenizers[arch]
        tab = tok.tables(self.device)
        v1, v2 = views
        B = v1.inputs.shape[0]
        inputs = torch.cat([v1.inputs, v2.inputs])
        index = torch.cat([v1.token_index, v2.token_index])
        positions = rep.space.position_table(arch, self.device)[index]
        seen = torch.cat(responses[:2]) if responses is not None else None
        with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=amp):
            latents = rep.net.encode_latents(inputs, positions, seen)
            pred, pred_responses = rep.net.decode_parts(latents, positions)
            z = rep.net.project(latents, positions)
        terms: dict[str, torch.Tensor] = {}
        terms["contrastive"] = nt_xent(z[:B], z[B:], cfg.temperature)
        target = torch.cat([v1.target, v2.target])
        terms["recon"] = layer_mse(pred, target, tab["mask"][index], tab["layer"][index], tok.num_layers)
        loss = cfg.gamma * terms["contrastive"] + (1 - cfg.gamma) * terms["recon"]
        if pred_responses is not None and responses is not None:
            terms["function"] = F.mse_loss(pred_responses.float(), responses[2].repeat(2, 1, 1))
            loss = loss + (1 - cfg.gamma) * self.cfg.function.recon * terms["function"]
        if behaviour is not None and spec_ids is not None:
            # the view's own tokens outside its window, so that a windowed view is a whole model
            full = tok.tokenize(v1.target_flat)
            rows = v1.token_index[:, :, None].expand(-1, -1, tok.token_size)
            full = full.scatter(1, rows, pred[:B].float())
            std = rep.standardizers[arch]
            recon = std.inverse(tok.detokenize(full))
            true = std.inverse(v1.target_flat)
            term = recon.new_zeros(())
            probe = behaviour.probe(generator)
            for k in spec_ids.unique().tolist():  # one pass per activation etc. in the batch
                sel = (spec_ids == k).nonzero().flatten().to(self.device)
                mse = behaviour_mse(behaviour.nets[k], rep.layouts[arch], recon[sel], true[sel], probe)
                term = term + mse * len(sel) / B
            terms["behaviour"] = term
            loss = loss + cfg.behaviour * term
        return loss, {k: float(v.detach()) for k, v in terms.items()}

    @torch.no_grad()
    def validate(self, rep: HyperRep) -> dict[str, float]:
        """Reconstruction of the validation checkpoints, every architecture's pooled."""
        if sum(len(r) for r in self.val_rows.values()) == 0:
            return {"val_recon": float("nan"), "val_r2": float("nan")}
        rep.net.eval()
        meter, recon, n = R2Meter(), 0.0, 0
        bs = self.cfg.train.eval_batch_size
        for ws in self.data.sets:
            a, tok, std = ws.arch, rep.tokenizers[ws.arch], rep.standardizers[ws.arch]
            tab = tok.tables(self.device)
            for start in range(0, len(self.val_rows[a]), bs):
                rows = self.val_rows[a][start : start + bs]
                flat = std.forward(torch.from_numpy(ws.weights[rows]).to(self.device))
                specs = [ws.specs[i] for i in ws.spec_id[rows]] if rep.reader is not None else None
                pred = rep.decode_tokens(rep.encode_tokens(flat, a, specs), a)
                meter.update(pred, flat)
                T, B = tok.num_tokens, len(rows)
                recon += B * float(layer_mse(tok.tokenize(pred), tok.tokenize(flat), tab["mask"].expand(B, -1, -1),
                                             tab["layer"].expand(B, T), tok.num_layers))
                n += B
        return {"val_recon": recon / n, "val_r2": meter.value()}

    def fit(self) -> TrainOutcome:
        cfg = self.cfg
        tc = cfg.train
        rep, optimizer, start, history = self._prepare()
        augmenters = {a: Augmenter(rep.tokenizers[a], cfg.augment) for a in rep.archs}
        amp = tc.amp and self.device.type == "cuda"
        behaviours = self._behaviour_setup(rep) if cfg.loss.behaviour > 0 else None
        weights = {ws.arch: torch.from_numpy(ws.weights[self.train_rows[ws.arch]]) for ws in self.data.sets}
        train_specs = {ws.arch: torch.from_numpy(ws.spec_id[self.train_rows[ws.arch]]) for ws in self.data.sets}
        sizes = {a: len(w) for a, w in weights.items()}
        steps_per_epoch = len(_epoch_batches(sizes, tc.batch_size, torch.Generator().manual_seed(0)))
        total = steps_per_epoch * tc.epochs
        world = self.world
        for epoch in range(start + 1, tc.epochs + 1):
            t0 = time.perf_counter()
            gen = _epoch_generator(tc.seed, epoch, self.device)
            # every worker draws the same batches; each its own augmentations of its shard
            vgen = gen if world.size == 1 else _epoch_generator(tc.seed + 7919 * (world.rank + 1), epoch, self.device)
            sums: dict[str, float] = {}
            counts: dict[str, int] = {}
            rep.net.train()
            cuda = [self.device.index or 0] if self.device.type == "cuda" else []
            with torch.random.fork_rng(devices=cuda):
                torch.manual_seed(tc.seed * 1_000_003 + epoch)
                batches = _epoch_batches(sizes, tc.batch_size, gen)
                for i, (a, idx) in enumerate(batches):
                    step = (epoch - 1) * steps_per_epoch + i
                    idx = world.shard(idx)
                    if idx is None:
                        continue
                    for group in optimizer.param_groups:
                        group["lr"] = tc.lr * lr_factor(step, total, tc.schedule, tc.warmup)
                    flat = rep.standardizers[a].forward(weights[a][idx].to(self.device, non_blocking=True))
                    views = (augmenters[a].view(flat, vgen), augmenters[a].view(flat, vgen))
                    behaviour = behaviours[a] if behaviours is not None else None
                    use_beh = behaviour is not None and step % cfg.loss.behaviour_every == 0
                    spec_ids = behaviour.spec_ids[idx] if behaviour is not None else None
                    specs = [rep.arch_specs[a][i] for i in train_specs[a][idx].tolist()] if rep.reader else None
                    responses = view_responses(rep, a, views, flat, specs) if specs is not None else None
                    loss, terms = self._loss(rep, a, views, behaviour if use_beh else None, spec_ids, amp, vgen,
                                             responses)
                    value = world.mean(float(loss.detach()), self.device)  # every worker stops alike
                    if not math.isfinite(value):
                        raise RuntimeError(f"hyperrep loss became {value} at epoch {epoch}, step {i}")
                    optimizer.zero_grad(set_to_none=True)
                    loss.backward()
                    world.average_gradients(rep.net)
                    if tc.clip_grad > 0:
                        nn.utils.clip_grad_norm_(rep.net.parameters(), tc.clip_grad)
                    optimizer.step()
                    terms["loss"] = value
                    for k, v in terms.items():
                        sums[k] = sums.get(k, 0.0) + v
                        counts[k] = counts.get(k, 0) + 1
            if not world.chief:  # the chief validates, logs and saves; the others go on
                continue
            row = {"epoch": float(epoch)}
            row.update({f"train_{k}": v / counts[k] for k, v in sums.items()})
            row.update(self.validate(rep))
            row["lr"] = optimizer.param_groups[0]["lr"]
            row["seconds"] = time.perf_counter() - t0
            history.append(row)
            self.progress(f"epoch {epoch}/{tc.epochs}: " + ", ".join(
                f"{k}={v:.4g}" for k, v in row.items() if k != "epoch"))
            if epoch % tc.checkpoint_every == 0 or epoch == tc.epochs:
                self._save(rep, optimizer, epoch, history)
        if start >= tc.epochs:
            self.progress(f"{self.run_dir} already trained for {tc.epochs} epochs")
        if world.chief:
            plot_curves(self.run_dir, history)
        rep.net.eval()
        return TrainOutcome(rep, history, self.run_dir, start)


def train_hyperrep(data: WeightSet | ZooWeights | str | Path, cfg: HyperRepConfig, run_dir: str | Path,
                   progress: Progress | None = None) -> TrainOutcome:
    """Train (or resume) a hyper-representation on ``data`` (or the zoo file it names,
    selected by ``cfg.data``: every architecture unless ``[data] arch`` names some) into
    ``run_dir``."""
    if not isinstance(data, (WeightSet, ZooWeights)):
        from hyperrep.data import from_zoo

        data = from_zoo(data, cfg.data)
    with torch_threads(cfg.train.threads):
        return Trainer(data, cfg, Path(run_dir), progress).fit()
