"""The real-EuroSAT results of both zoos in one run (``scripts/eurosat_results.py``): for the
256-model zoo (configs/zoos/eurosat_rgb.toml) and the large one (configs/zoos/eurosat_rgb_large.toml)
the whole pipeline with the hyper-representation config chosen by the ablation, then ``OUT/summary.md`` with
the property table of each (best embedding readout by validation score, the supervised row,
the weight baselines; R² and Kendall τ with 95% intervals over test models) and links to each
zoo's full summary (``OUT/<zoo>/summary.md``: sampling, memorisation, diversity, sparsity).
"""

from __future__ import annotations

import shlex
from pathlib import Path

from eo_tasks import dump_toml, load_toml
from hyperzoo.plans import generating_run, pipeline_steps
from hyperzoo.steps import DemoPlan, Step

# zoo name -> (population config, hyper-representation config), under the checkout's configs/
ZOOS = {
    "256": ("zoos/eurosat_rgb.toml", "hyperrep/eurosat.toml"),
    "large": ("zoos/eurosat_rgb_large.toml", "hyperrep/eurosat.toml"),
}
GENERATE = "hyperrep/eurosat_generate.toml"  # the run sampling and sparsification decode with
PROPERTIES = ("test_acc", "epoch", "gap")
PREDICT = ("--threads", "0", "--supervised", "--supervised-properties", *PROPERTIES)


def run_both(out: Path, data_root: str, configs: Path, zoos: dict[str, str | None], *, keep_done: bool = False,
             max_workers: int = 0, rerun: str = "", jobs: int = 1) -> Path:
    """Run the pipeline for each of ``zoos`` (name -> an existing zoo file, or None to generate
    it) into ``OUT/<name>/`` and write ``OUT/summary.md``; returns its path. ``jobs``: steps run
    at once where they do not depend on each other (``hyperzoo.steps.run_plan``)."""
    from hyperzoo.steps import run_plan

    out.mkdir(parents=True, exist_ok=True)
    for name, zoo in zoos.items():
        zoo_config, rep_config = (configs / c for c in ZOOS[name])
        plan = eurosat_plan(out / name, data_root, zoo_config, rep_config, zoo=zoo, max_workers=max_workers,
                            predict=PREDICT, rerun=rerun, gen_config=configs / GENERATE)
        run_plan(plan, keep_done=keep_done, jobs=jobs)
    return write_summary(out, rerun)




def eurosat_plan(out: Path, data_root: str, zoo_config: Path, rep_config: Path, zoo: str | None = None,
                 max_workers: int = 0, predict: tuple[str, ...] = ("--threads", "1"), rerun: str = "",
                 gen_config: Path | None = None) -> DemoPlan:
    """The full pipeline on real EuroSAT RGB with the project's sized configs, which the caller
    names (scripts/eurosat_results.py: the checkout's configs/zoos/eurosat_rgb.toml and
    configs/hyperrep/eurosat.toml): the README's results table.

    ``zoo`` reuses a zoo file already generated from ``zoo_config`` (it is linked, not copied)."""
    root = Path(data_root).expanduser().resolve()
    if not root.is_dir():
        raise FileNotFoundError(f"--data-root: EuroSAT RGB folder {root} does not exist")
    out.mkdir(parents=True, exist_ok=True)
    o = lambda name: str(out / name)  # noqa: E731
    plan = DemoPlan(out=out, quick=False, data_kind="eurosat-rgb", data_root=str(root))
    steps = []
    if zoo is None:
        raw = load_toml(zoo_config)
        raw["data"]["root"] = str(root)
        (out / "zoo.toml").write_text("# written by scripts/eurosat_results.py\n" + dump_toml(raw))
        workers = ["--max-workers", str(max_workers)] if max_workers else []
        steps.append(Step("Generate the zoo (Ray, local)",
                          ["zoo", "generate", "--config", o("zoo.toml"), "--out", o("zoo.h5")] + workers))
    else:
        link = out / "zoo.h5"
        if not link.exists():
            link.symlink_to(Path(zoo).expanduser().resolve())
    gen = generating_run(out, gen_config)
    # the comparisons beside the default sampler: the same neighbour draws plus each anchor's
    # decoding error (the old default, which returns near-copies of the anchors: issue 37), and
    # the best KDE of docs/sampling.md (a density over 4 principal components of the anchors)
    more = [
        Step("Sample around single anchors, with the decoder residual",
             ["sample", *gen, "--out", o("sampled-residual.h5"), "--method", "neighbour", "--residual", "anchor",
              "--n", "32", "--select", "16", "--report", o("sample-residual"), "--finetune-epochs", "1",
              "--finetune-models", "2", "--overwrite"], done_when=o("sample-residual/command.txt"),
             key="sample residual"),
        Step("Sample from a KDE in the anchors' principal components",
             ["sample", *gen, "--out", o("sampled-kde-pca.h5"), "--method", "kde-pca", "--pca-components", "4",
              "--n", "64", "--select", "16", "--report", o("sample-kde-pca"), "--finetune-epochs", "1",
              "--finetune-models", "2", "--overwrite"], done_when=o("sample-kde-pca/command.txt"),
             key="sample kde-pca"),
    ]
    # the command's default sampler (docs/sampling.md, "Unseen models, not perturbed copies", chosen on
    # validation under the novelty floor): a draw near one anchor, no decoder residual
    default: list[str] = []
    steps += pipeline_steps(
        out, str(Path(rep_config).resolve()), predict=list(predict),
        # every kept sample fine-tuned beside the anchor it was drawn around (16 pairs: with 5 the
        # difference was inside the noise of the models picked, docs/sampling.md), for 3 epochs
        method="neighbour", sample=[*default, "--n", "64", "--select", "16", "--finetune-epochs", "3",
                                    "--finetune-models", "16"],
        # docs/sparsity.md's schedule E (gradual in 5 steps, best validation epoch kept) with LAMP
        # scores, fine-tuned on the whole train split (both chosen on validation accuracy, both
        # zoos), on 3 models per source at the ratios around the 80% goal; robust draws with the
        # default sampler
        sparsify=["--ratios", "0.7,0.8,0.9", "--max-models", "3", "--n", "16", "--select", "3",
                  "--robust-shift", "0.5", "--method", "neighbour", *default, "--scope", "lamp", "--schedule", "gradual",
                  "--steps", "5", "--step-epochs", "2", "--finetune-epochs", "5", "--keep", "best-val",
                  "--finetune-subset", "0"],
        more=more, gen_config=str(Path(gen_config).resolve()) if gen_config else None,
    )
    plan.steps = steps
    plan.title = "hyperzoo on real EuroSAT RGB"
    plan.rerun = rerun or f"python scripts/eurosat_results.py --data-root {root} --out {out.parent}"
    return plan


def write_summary(out: Path, rerun: str = "") -> Path:
    """``OUT/summary.md``: the property table of every zoo with a report in ``OUT``, also of
    those an earlier ``--only`` run made; returns its path."""
    from hyperzoo.results import property_table, zoo_rows

    sections = []
    for name in ZOOS:
        report, zoo = out / name / "predict", out / name / "zoo.h5"
        if not (report / "results.csv").is_file():
            continue
        if not zoo.is_file():  # e.g. a report made by hand beside a zoo kept elsewhere
            sections.append(f"## The {name} zoo\n\n{report} holds a report, but {zoo} is missing: link the "
                            "zoo file there to include its table.\n")
            continue
        _, zoo_line = zoo_rows(zoo)[0]
        link = f"[{name}/summary.md]({name}/summary.md)"
        sections.append(f"## The {name} zoo\n\n{zoo_line}; every report in {link}.\n\n"
                        + property_table(report, PROPERTIES))
    # the file covers every zoo in OUT, also those an earlier --only run made, so the command
    # it quotes is the one for both
    both = both_zoos(rerun)
    text = ("# hyperzoo on real EuroSAT RGB: both zoos\n\n"
            + (f"Rerun with `{both}`.\n\n" if both else "")
            + "The best embedding readout is the self-supervised feature set and predictor with the highest "
              "validation score (R² on the validation models); the test models choose nothing.\n\n"
            + "\n".join(sections))
    path = out / "summary.md"
    path.write_text(text)
    return path


def rerun_command(argv: list[str]) -> str:
    return "python scripts/eurosat_results.py " + shlex.join(argv)


def both_zoos(command: str) -> str:
    """``command`` without its ``--only NAME``: the same run over both zoos."""
    words = shlex.split(command)
    keep = [w for i, w in enumerate(words)
            if w != "--only" and not w.startswith("--only=") and not (i and words[i - 1] == "--only")]
    return shlex.join(keep)
