"""Training a hyper-representation on a zoo's weights, with checkpoints and resume.

Every epoch draws its batches and augmentations from a generator seeded by
``(seed, epoch)`` and seeds dropout's global RNG the same way inside a fork, so a run
resumed from its last checkpoint continues exactly as if it had never stopped (on CPU).
What the run folder holds, and what a killed run leaves there: docs/run-format.md
(written by :mod:`hyperrep.runfolder`).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from eo_tasks.config import ConfigError
from hyperrep.augment import Augmenter, View
from hyperrep.behaviour import Behaviour, behaviour_setup, probe_inputs
from hyperrep.config import HyperRepConfig
from hyperrep.data import WeightSet
from hyperrep.losses import R2Meter, behaviour_mse, layer_mse, nt_xent
from hyperrep.run import HyperRep, resolve_device
from hyperrep.runfolder import (
    CHECKPOINT, RUNTIME_KEYS, config_identity, load_checkpoint, plot_curves, save_checkpoint, write_history,
    write_static,
)
from hyperrep.tokens import Standardizer, Tokenizer
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


class Trainer:
    def __init__(self, data: WeightSet, cfg: HyperRepConfig, run_dir: Path, progress: Progress | None,
                 world: World = World()) -> None:
        """``world``: this process's place among data-parallel workers (hyperrep.distributed);
        only its chief reports progress and writes the run folder."""
        self.data = data
        self.run_dir = run_dir
        self.world = world
        self.progress = (progress if world.chief else None) or (lambda _msg: None)
        self.device = resolve_device(cfg.train.device)
        tok = Tokenizer(data.layout, cfg.tokens.token_size, cfg.tokens.max_token_size)
        self.cfg = cfg.with_token_size(tok.token_size)
        self.train_rows = data.rows("train")
        self.val_rows = data.rows("val")
        window = 0 < cfg.augment.window < tok.num_tokens
        if window and cfg.model.embedding == "tokens" and cfg.model.pool == "flat":
            raise ConfigError("model.pool = \"flat\" needs whole models; with augment.window > 0 use pool = \"mean\"")
        if len(self.train_rows) < 2:
            raise ConfigError(f"{data.source or 'the weights'}: the training split has {len(self.train_rows)} "
                              "checkpoint(s), need at least 2 (select more with [data] status, epochs, min_epoch)")

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
                f"{ckpt_path}: holds a run with a different config; use a new --out folder or the "
                f"config in {run / 'config.toml'} to resume"
            )
        if ckpt is not None and (run / "norm.json").is_file():
            std = Standardizer.from_json((run / "norm.json").read_text(), self.data.layout)
        else:
            std = Standardizer.fit(self.data.layout, self.data.weights[self.train_rows])
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(cfg.train.seed)
            rep = HyperRep(cfg, self.data.layout, std, device=self.device, specs=self.data.specs)
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

    def _behaviour_setup(self, rep: HyperRep) -> Behaviour:
        return behaviour_setup(self.data, self.train_rows, rep.layout, self.cfg.loss, self.cfg.train.seed,
                               self.device)

    # ---- steps --------------------------------------------------------------------------
    def _loss(self, rep: HyperRep, views: tuple[View, View], behaviour: Behaviour | None,
              spec_ids: torch.Tensor | None, amp: bool,
              generator: torch.Generator) -> tuple[torch.Tensor, dict[str, float]]:
        cfg = self.cfg.loss
        tok = rep.tokenizer
        tab = tok.tables(self.device)
        v1, v2 = views
        B = v1.inputs.shape[0]
        inputs = torch.cat([v1.inputs, v2.inputs])
        index = torch.cat([v1.token_index, v2.token_index])
        positions = tab["positions"][index]
        with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=amp):
            latents, pred = rep.net(inputs, positions)
            z = rep.net.project(latents, positions)
        terms: dict[str, torch.Tensor] = {}
        terms["contrastive"] = nt_xent(z[:B], z[B:], cfg.temperature)
        target = torch.cat([v1.target, v2.target])
        terms["recon"] = layer_mse(pred, target, tab["mask"][index], tab["layer"][index], tok.num_layers)
        loss = cfg.gamma * terms["contrastive"] + (1 - cfg.gamma) * terms["recon"]
        if behaviour is not None and spec_ids is not None:
            # the view's own tokens outside its window, so that a windowed view is a whole model
            full = tok.tokenize(v1.target_flat)
            rows = v1.token_index[:, :, None].expand(-1, -1, tok.token_size)
            full = full.scatter(1, rows, pred[:B].float())
            recon = rep.standardizer.inverse(tok.detokenize(full))
            true = rep.standardizer.inverse(v1.target_flat)
            term = recon.new_zeros(())
            probe = behaviour.probe(generator)
            for k in spec_ids.unique().tolist():  # one pass per activation etc. in the batch
                sel = (spec_ids == k).nonzero().flatten().to(self.device)
                mse = behaviour_mse(behaviour.nets[k], rep.layout, recon[sel], true[sel], probe)
                term = term + mse * len(sel) / B
            terms["behaviour"] = term
            loss = loss + cfg.behaviour * term
        return loss, {k: float(v.detach()) for k, v in terms.items()}

    @torch.no_grad()
    def validate(self, rep: HyperRep) -> dict[str, float]:
        if len(self.val_rows) == 0:
            return {"val_recon": float("nan"), "val_r2": float("nan")}
        rep.net.eval()
        tab = rep.tokenizer.tables(self.device)
        meter, recon, n = R2Meter(), 0.0, 0
        bs = self.cfg.train.eval_batch_size
        for start in range(0, len(self.val_rows), bs):
            rows = self.val_rows[start : start + bs]
            flat = rep.standardizer.forward(torch.from_numpy(self.data.weights[rows]).to(self.device))
            pred = rep.decode_tokens(rep.encode_tokens(flat))
            meter.update(pred, flat)
            T = rep.tokenizer.num_tokens
            B = len(rows)
            recon += B * float(layer_mse(
                rep.tokenizer.tokenize(pred), rep.tokenizer.tokenize(flat), tab["mask"].expand(B, -1, -1),
                tab["layer"].expand(B, T), rep.tokenizer.num_layers))
            n += B
        return {"val_recon": recon / n, "val_r2": meter.value()}

    def fit(self) -> TrainOutcome:
        cfg = self.cfg
        tc = cfg.train
        rep, optimizer, start, history = self._prepare()
        augmenter = Augmenter(rep.tokenizer, cfg.augment)
        amp = tc.amp and self.device.type == "cuda"
        behaviour = self._behaviour_setup(rep) if cfg.loss.behaviour > 0 else None
        weights = torch.from_numpy(self.data.weights[self.train_rows])
        steps_per_epoch = len(_batches(len(weights), tc.batch_size, torch.Generator().manual_seed(0)))
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
                batches = _batches(len(weights), tc.batch_size, gen)
                for i, idx in enumerate(batches):
                    step = (epoch - 1) * steps_per_epoch + i
                    idx = world.shard(idx)
                    if idx is None:
                        continue
                    for group in optimizer.param_groups:
                        group["lr"] = tc.lr * lr_factor(step, total, tc.schedule, tc.warmup)
                    flat = rep.standardizer.forward(weights[idx].to(self.device, non_blocking=True))
                    views = (augmenter.view(flat, vgen), augmenter.view(flat, vgen))
                    use_beh = behaviour is not None and step % cfg.loss.behaviour_every == 0
                    spec_ids = behaviour.spec_ids[idx] if behaviour is not None else None
                    loss, terms = self._loss(rep, views, behaviour if use_beh else None, spec_ids, amp, vgen)
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


def train_hyperrep(data: WeightSet | str | Path, cfg: HyperRepConfig, run_dir: str | Path,
                   progress: Progress | None = None) -> TrainOutcome:
    """Train (or resume) a hyper-representation on ``data`` (or the zoo file it names,
    selected by ``cfg.data``) into ``run_dir``."""
    if not isinstance(data, WeightSet):
        from hyperrep.data import from_zoo

        data = from_zoo(data, cfg.data)
    threads = cfg.train.threads
    old = torch.get_num_threads()
    if threads > 0:
        torch.set_num_threads(threads)
    try:
        return Trainer(data, cfg, Path(run_dir), progress).fit()
    finally:
        torch.set_num_threads(old)
