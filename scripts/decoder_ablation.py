"""Levers of the generating autoencoder, chosen on what decoding keeps of held-out models.

    python scripts/decoder_ablation.py --config configs/ablation/decoder.toml \\
        --zoo ../runs/wildpark/zoo.h5 --out ../runs/decoder-ablation --data-root ../shared/data/eurosat-rgb \\
        [--variants a,b] [--publish]

The ablation TOML is `hyperzoo hyperrep ablate`'s (a base run config, ``[common]``,
``[variants.<name>]``). Each variant trains its run under ``OUT/<name>/run`` (resumable) and
is scored by :func:`hyperrep.sampling.fidelity.decoder_fidelity` on the zoo's validation
models only: mean retention (accuracy of decode(embed(w)) over accuracy of w) with a 95%
interval over models, the share keeping >= 90%, agreement and relative weight error. The
variant with the highest validation retention is the chosen one; only it is then scored on
the test models. ``OUT/decoder.csv`` holds every row; ``--publish`` copies it to
docs/results/<name>/table.csv and refreshes the generated blocks. Two processes with
disjoint ``--variants`` can share OUT (one core each).
"""

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--config", required=True, help="ablation TOML (base, [common], [variants.<name>])")
    p.add_argument("--zoo", required=True, help="the zoo file")
    p.add_argument("--out", required=True, help="output folder (resumable)")
    p.add_argument("--data-root", default=None, help="the zoo task's data folder")
    p.add_argument("--variants", default="", help="comma-separated variants to train and score (default: all)")
    p.add_argument("--no-test", action="store_true", help="do not score the chosen variant on test models")
    p.add_argument("--name", default="", help="docs/results/<name> for --publish")
    p.add_argument("--publish", action="store_true", help="write docs/results/<name>/table.csv, refresh the blocks")
    args = p.parse_args(argv)
    import pandas as pd

    from hyperrep import Ablation, train_hyperrep
    from hyperrep.sampling import decoder_fidelity, fidelity_summary

    ablation = Ablation.load(args.config)
    only = [v for v in args.variants.split(",") if v] or list(ablation.variants)
    out = Path(args.out)
    say = lambda line: print(line, file=sys.stderr, flush=True)  # noqa: E731
    for name in only:
        folder = out / name
        if (folder / "val.csv").exists():
            continue
        start = time.perf_counter()
        train_hyperrep(args.zoo, ablation.variants[name], folder / "run", progress=None)
        rows = decoder_fidelity(args.zoo, folder / "run", args.data_root, splits=("val",), progress=say)
        rows.to_csv(folder / "val_models.csv", index=False)
        hist = pd.read_csv(folder / "run" / "history.csv")
        fidelity_summary(rows).assign(variant=name, train_s=float(hist["seconds"].sum()),
                                      val_r2=float(hist["val_r2"].iloc[-1])).to_csv(folder / "val.csv", index=False)
        say(f"[decoder] {name}: {time.perf_counter() - start:.0f} s")
    scored = [pd.read_csv(out / n / "val.csv") for n in ablation.variants if (out / n / "val.csv").exists()]
    table = pd.concat(scored, ignore_index=True)
    best = str(table.loc[table["retention"].idxmax(), "variant"])
    table["chosen"] = table["variant"] == best
    if not args.no_test and len(scored) == len(ablation.variants):
        test_csv = out / best / "test.csv"
        if not test_csv.exists():
            rows = decoder_fidelity(args.zoo, out / best / "run", args.data_root, splits=("test",), progress=say)
            rows.to_csv(out / best / "test_models.csv", index=False)
            fidelity_summary(rows).assign(variant=best).to_csv(test_csv, index=False)
        table = pd.concat([table, pd.read_csv(test_csv).assign(chosen=True)], ignore_index=True)
    table.to_csv(out / "decoder.csv", index=False)
    print(table.to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    if args.publish:
        import shlex

        from hyperzoo import doc_files, publish, refresh

        command = "python scripts/decoder_ablation.py " + shlex.join(argv)
        publish(ROOT / "docs" / "results" / args.name, label="real EuroSAT RGB zoo (decoder ablation)",
                command=command, zoo=args.zoo, files={"table.csv": shown(table, ablation.overrides),
                                                      "decoder.csv": table})
        refresh(doc_files(ROOT), ROOT)
    return 0


def shown(table, overrides: dict) -> "pd.DataFrame":
    """The published table: one row per variant (validation models) and the chosen one's test row."""
    import pandas as pd

    def changed(name: str) -> str:
        flat = [f"{t}.{k} = {v}" for t, kv in overrides.get(name, {}).items() for k, v in kv.items()]
        return "; ".join(flat) or "(the base config)"

    rows = []
    for r in table.itertuples():
        rows.append({
            "variant": r.variant + (" (chosen)" if r.chosen and r.split == "val" else ""),
            "changes": changed(r.variant), "models": f"{int(r.models)} {r.split}",
            "retention": f"{r.retention:.3f} [{r.retention_lo:.2f}, {r.retention_hi:.2f}]",
            "keep >= 90%": f"{r.share_90:.0%}", "accuracy: w / decoded": f"{r.acc:.3f} / {r.recon_acc:.3f}",
            "agreement": f"{r.agreement:.2f}", "relative error": f"{r.rel_error:.2f}",
            "val R²": f"{r.val_r2:.2f}" if pd.notna(getattr(r, "val_r2", float("nan"))) else "",
            "train s": f"{r.train_s:.0f}" if pd.notna(getattr(r, "train_s", float("nan"))) else "",
        })
    return pd.DataFrame(rows)


if __name__ == "__main__":
    sys.exit(main())
