"""The pipeline's steps after a zoo exists, which every plan shares (:func:`pipeline_steps`),
and the fusion story at full size (:func:`fusion_plan`, ``scripts/fusion_results.py``). The
demo's plan is :mod:`hyperzoo.demo`, the real-EuroSAT one :mod:`hyperzoo.eurosat`; the runner
:mod:`hyperzoo.steps`.
"""

from __future__ import annotations

from pathlib import Path

from hyperzoo.fusion import MODES as MODE_ORDER
from hyperzoo.steps import DemoPlan, Step

# The demo's step options. Each trims what a step repeats, not what it shows (measured on a
# loaded 2-core machine, CPU seconds; README "On a fresh machine"):
# - predict: the feature sets the fusion questions compare across architectures, pool(emb)
#   and s(W) (raw W and per-token embeddings are n/a in a mixed zoo), and the functional view:
#   probe (each checkpoint's softmax outputs on 16 training-split images, one width for every
#   mode) and probe+s(W) (function and structure side by side); ridge and GBT on each. 16
#   probes, not the report's 64: they add about 9 s to the quick demo's step (8.7 s -> 17.3 s);
# - sampling: one report with fine-tuning and the memorisation check for the mode sparsified,
#   zero-shot accuracy only for the other modes;
# - sparsify: 4 models per source and 3 ratios besides the dense reference (the curve's knee
#   lies between 0.5 and 0.9 in every demo zoo), instead of every anchor at 5 ratios.
PROBES = 16
PREDICT = ["--features", "pool(emb)", "s(W)", "probe", "probe+s(W)", "--probes", str(PROBES), "--threads", "1"]
# every mode is sampled (and the robust draws made) with the command's default sampler, chosen on
# validation under the novelty floor (docs/sampling.md): around single anchors, no decoder residual
# (the residual returns the anchor: issue 37)
DEFAULT_SAMPLER = ["--method", "neighbour"]
SPARSIFY_ARCH = "late"  # the mode the full sampling report and sparsification use


def mode_sample_steps(out: Path, modes: list[str], options: list[str],
                      sampler: tuple[str, ...] = ("--method", "kde")) -> list[Step]:
    """One ``hyperzoo sample --arch MODE`` per fusion mode: zero-shot accuracy of that mode's
    samples against its anchors and random inits (OUT/sample-MODE/zero_shot.csv)."""
    o = lambda name: str(out / name)  # noqa: E731
    return [Step(f"Sample unseen {mode} models",
                 ["sample", "--zoo", o("zoo.h5"), "--run", o("run"), "--arch", mode, "--out", o(f"sampled-{mode}.h5"),
                  *sampler, *options, "--report", o(f"sample-{mode}"), "--overwrite"],
                 done_when=o(f"sample-{mode}/command.txt"), key=f"sample {mode}") for mode in modes]


def generating_run(out: Path, gen_config: object) -> list[str]:
    """``--zoo``/``--run`` of the steps that decode: OUT/run-gen where a generating config is given."""
    return ["--zoo", str(out / "zoo.h5"), "--run", str(out / ("run-gen" if gen_config else "run"))]


def pipeline_steps(out: Path, rep_config: str, predict: list[str], sample: list[str], sparsify: list[str],
                   more: list[Step] = (), arch: str | None = None, method: str = "kde",
                   gen_config: str | None = None) -> list[Step]:
    """The steps after the zoo exists (OUT/zoo.h5); ``predict``/``sample``/``sparsify`` are
    their extra options, ``more`` steps go before sparsification; ``arch`` names the
    architecture (fusion mode) of a mixed zoo that sampling and sparsification work on.
    ``gen_config``: a second run (OUT/run-gen) that sampling and sparsification decode with,
    where the run that reads properties best decodes poorly (docs/hyperrep-ablation.md).
    The steps that write a file or report pass ``--overwrite`` (a rerun replaces what an
    unfinished one left); the two trainings resume instead."""
    o = lambda name: str(out / name)  # noqa: E731
    zr = ["--zoo", o("zoo.h5"), "--run", o("run")]
    gen = generating_run(out, gen_config)
    pick = ["--arch", arch] if arch else []
    train_gen = [Step("Train the generating hyper-representation",
                      ["hyperrep", "train", "--zoo", o("zoo.h5"), "--config", gen_config, "--out", o("run-gen")],
                      key="hyperrep train gen")] if gen_config else []
    return [
        Step("Describe the zoo", ["zoo", "info", "--zoo", o("zoo.h5"), "--plot", o("zoo_accuracy.png")]),
        Step("Train the hyper-representation",
             ["hyperrep", "train", "--zoo", o("zoo.h5"), "--config", rep_config, "--out", o("run")]),
        *train_gen,
        Step("Embed every checkpoint",
             ["hyperrep", "embed", "--run", o("run"), "--zoo", o("zoo.h5"), "--out", o("embeddings.h5"), "--overwrite"],
             done_when=o("embeddings.h5")),
        Step("Predict properties from weights", ["predict", *zr, "--out", o("predict"), *predict, "--overwrite"],
             done_when=o("predict/command.txt")),
        Step("Sample unseen models" + (f" ({arch})" if arch else ""),
             ["sample", *gen, *pick, "--out", o("sampled.h5"), "--method", method, *sample, "--report", o("sample"),
              "--overwrite"], done_when=o("sample/command.txt")),
        *more,
        Step("Sparsify trained and sampled models" + (f" ({arch})" if arch else ""),
             ["sparsify", *gen, *pick, "--sampled", o("sampled.h5"), "--out", o("sparsify"), *sparsify, "--overwrite"],
             done_when=o("sparsify/command.txt")),
    ]


def plan_modes(zoo_config: Path) -> list[str]:
    """The fusion modes of the population ``zoo_config`` describes: its base model under each
    variant and each value the grid or the random draws give ``fusion``/``shared_backbone``."""
    import dataclasses
    import itertools

    from zoo import load_spec

    from hyperzoo.fusion import mode_of

    spec = load_spec(zoo_config)
    pop = spec.population

    def values(key: str) -> list:
        drawn = pop.random.get(key, {})
        return list(pop.grid.get(key) or drawn.get("choice") or [getattr(spec.model, key)])

    modes = []
    for variant, fusion, shared in itertools.product(pop.variants or ({},), values("fusion"), values("shared_backbone")):
        arch = dataclasses.replace(spec.model, **{"fusion": fusion, "shared_backbone": shared, **variant})
        if arch.fusion == "late" or not arch.shared_backbone:  # a shared backbone exists in late fusion only
            modes.append(mode_of(arch))
    return [m for m in MODE_ORDER if m in modes] + sorted(set(modes) - set(MODE_ORDER))


def fusion_plan(out: Path, zoo_config: Path, rep_config: Path, zoo: str | None = None,
                max_workers: int = 0) -> DemoPlan:
    """The fusion story at full size (scripts/fusion_results.py: configs/zoos/benge_fusion.toml and
    configs/hyperrep/benge_fusion.toml): the demo's steps with the sized configs, every fusion
    mode sampled with its zero-shot and memorisation reports, and the supervised row for the
    accuracies. ``zoo`` reuses a zoo already generated from ``zoo_config`` (linked, not copied)."""
    out.mkdir(parents=True, exist_ok=True)
    o = lambda name: str(out / name)  # noqa: E731
    plan = DemoPlan(out=out, quick=False, title=f"hyperzoo fusion story: {Path(zoo_config).name}")
    steps = []
    if zoo is None:
        workers = ["--max-workers", str(max_workers)] if max_workers else []
        steps.append(Step("Generate the zoo (Ray, local)",
                          ["zoo", "generate", "--config", str(Path(zoo_config).resolve()), "--out", o("zoo.h5"), *workers]))
    elif not (out / "zoo.h5").exists():
        (out / "zoo.h5").symlink_to(Path(zoo).expanduser().resolve())
    modes = plan_modes(Path(zoo_config))
    arch = SPARSIFY_ARCH if SPARSIFY_ARCH in modes else modes[0]
    others = [m for m in modes if m != arch]
    plan.mode_samples = {m: out / ("sample" if m == arch else f"sample-{m}") for m in modes}
    predict = ["--features", "pool(emb)", "s(W)", "probe", "probe+s(W)", "--probes", str(PROBES), "--threads", "1",
               "--supervised", "--supervised-properties", "test_acc", "test_acc_cloudy"]
    sample = ["--n", "32", "--select", "16", "--finetune-epochs", "1", "--finetune-models", "4"]
    steps += pipeline_steps(out, str(Path(rep_config).resolve()), predict=predict, sample=sample,
                            sparsify=["--ratios", "0.5,0.7,0.8,0.9", "--max-models", "8", "--n", "8"],
                            more=mode_sample_steps(out, others, ["--n", "32", "--select", "16",
                                                                 "--finetune-models", "0"]), arch=arch)
    plan.steps = steps
    plan.rerun = (f"python scripts/fusion_results.py --out {out}" + (f" --zoo {zoo}" if zoo else "")
                  + " --keep-done")
    return plan
