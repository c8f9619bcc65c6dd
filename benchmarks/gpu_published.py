"""The published-scale hyper-representation on a GPU (issue 12, point 6), timed.

    python benchmarks/gpu_published.py --zoo ZOO.h5 --probes PROBES.npz --out RUN/ \\
        [--config configs/hyperrep/eurosat_published.toml] [--epochs N] [--batch-size B] [--lr LR]

Trains ``--config`` (default: d_model 256, 8 layers, latent 64, 100 epochs, bfloat16 autocast)
on ``--device`` (default cuda) with the probe pool saved by ``hyperzoo hyperrep probes`` (a GPU
machine is sent the zoo file, not the dataset), embeds every checkpoint once, and writes
RUN/gpu_run.json: the device, wall time, seconds per epoch and per step, peak GPU memory, the
last epoch's losses and validation reconstruction R², the embedding throughput, and every
override of the config. The run folder is the usual one (``hyperzoo predict --run RUN``
reads it on any machine). It runs on the CPU too (``--device cpu``), slowly.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import platform
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _log(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--zoo", required=True)
    p.add_argument("--probes", default=None, help="probe pool from `hyperzoo hyperrep probes` (default: the dataset)")
    p.add_argument("--out", required=True, help="run folder (resumed when a checkpoint is there)")
    p.add_argument("--config", default=str(ROOT / "configs/hyperrep/eurosat_published.toml"))
    p.add_argument("--device", default="cuda")
    p.add_argument("--epochs", type=int, default=None, help="override [train] epochs")
    p.add_argument("--batch-size", type=int, default=None, help="override [train] batch_size")
    p.add_argument("--lr", type=float, default=None, help="override [train] lr")
    args = p.parse_args(argv)

    import torch

    from hyperrep import HyperRepConfig, from_zoo, train_hyperrep

    cfg = HyperRepConfig.load(args.config)
    overrides = {k: v for k, v in (("epochs", args.epochs), ("batch_size", args.batch_size), ("lr", args.lr))
                 if v is not None}
    cfg = dataclasses.replace(cfg, train=dataclasses.replace(cfg.train, device=args.device, **overrides))
    if args.probes:
        cfg = dataclasses.replace(cfg, loss=dataclasses.replace(cfg.loss, probe_file=args.probes))
    cuda = cfg.train.device.startswith("cuda")
    env = {"torch": torch.__version__, "python": platform.python_version(), "device": cfg.train.device,
           "gpu": torch.cuda.get_device_name() if cuda else None, "cpu_threads": torch.get_num_threads()}
    _log(f"[gpu_published] {json.dumps(env)}; overrides {overrides or 'none'}")

    t0 = time.perf_counter()
    data = from_zoo(args.zoo, cfg.data)
    t_load = time.perf_counter() - t0
    n_train = int((data.split == "train").sum())
    _log(f"[gpu_published] {args.zoo}: {len(data)} checkpoints ({n_train} training) read in {t_load:.1f} s")
    if cuda:
        torch.cuda.reset_peak_memory_stats()
    t0 = time.perf_counter()
    outcome = train_hyperrep(data, cfg, args.out, progress=_log)
    t_train = time.perf_counter() - t0
    peak = torch.cuda.max_memory_allocated() / 2**30 if cuda else None

    t0 = time.perf_counter()
    emb = outcome.rep.embed(data.weights, batch_size=cfg.train.eval_batch_size)
    if cuda:
        torch.cuda.synchronize()
    t_embed = time.perf_counter() - t0

    hist = outcome.history
    steps = -(-n_train // cfg.train.batch_size)  # one architecture: ceil(rows / batch)
    new = hist[outcome.resumed_from:]  # the epochs this call trained (a resumed run has earlier ones)
    epoch_s = statistics.median(h["seconds"] for h in new) if new else None
    report = {
        **env, "zoo": str(args.zoo), "config": str(args.config), "overrides": overrides,
        "params": sum(t.numel() for t in outcome.rep.net.parameters()),
        "epochs": len(hist), "steps_per_epoch": steps, "train_rows": n_train,
        "wall_train_s": round(t_train, 1), "load_s": round(t_load, 1),
        "epoch_s_median": round(epoch_s, 2) if new else None,
        "step_ms_median": round(1000 * epoch_s / steps, 1) if new else None,
        "peak_gpu_gib": round(peak, 2) if peak is not None else None,
        "embed_checkpoints_per_s": round(len(data.weights) / t_embed), "embedding_dim": int(emb.shape[1]),
        "last_epoch": hist[-1] if hist else {},
    }
    (Path(args.out) / "gpu_run.json").write_text(json.dumps(report, indent=1))
    _log(f"[gpu_published] {json.dumps(report)}")
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    sys.exit(main())
