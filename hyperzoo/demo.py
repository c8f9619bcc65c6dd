"""The main job: zoo -> hyper-representation -> property report -> sampling -> sparsity.

Every step runs the very ``hyperzoo`` subcommand a user would type (in-process), and the
summary quotes that command next to the figures read back from the files it wrote, so the
summary and the individual commands always agree.
"""

from __future__ import annotations

import contextlib
import io
import json
import shlex
import sys
import time
import tomllib
from dataclasses import dataclass, field
from importlib.resources import files
from pathlib import Path

from eo_tasks.config import ConfigError, dump_toml, load_toml
from hyperzoo.fusion import MODES as MODE_ORDER

DATA_KINDS = {"eurosat-rgb", "eurosat-ms", "benge"}


def demo_config(name: str) -> str:
    """The text of one of the demo's configs (``zoo.toml``, ``hyperrep_quick.toml``, ...). They ship
    inside the package (hyperzoo/configs/demo, package data) so an installed wheel runs the demo
    from any folder, not only from a checkout."""
    return (files("hyperzoo") / "configs" / "demo" / name).read_text(encoding="utf-8")


@dataclass
class Step:
    title: str
    argv: list[str]
    seconds: float = 0.0
    stdout: str = ""
    done_when: str = ""  # a file this step writes last: with keep_done, its presence skips the step
    skipped: bool = False
    key: str = ""  # how the summary finds the step (default: its subcommand)
    finished: bool = False  # ran now and exited 0
    earlier: float | None = None  # a kept step: the seconds its earlier run recorded (OUT/step_times.json)

    @property
    def name(self) -> str:
        return self.key or " ".join(self.argv[:2] if self.argv[0] in ("zoo", "hyperrep") else self.argv[:1])

    def keep(self, keep_done: bool, index: int, total: int) -> bool:
        """Whether an earlier run's output is kept instead of running this step (marks it skipped)."""
        self.skipped = keep_done and bool(self.done_when) and Path(self.done_when).exists()
        if self.skipped:
            print(f"[{index}/{total}] {self.title}: kept from an earlier run ({self.done_when})", file=sys.stderr)
        return self.skipped


@dataclass
class DemoPlan:
    out: Path
    quick: bool
    data_kind: str | None = None
    data_root: str | None = None
    steps: list[Step] = field(default_factory=list)
    title: str = ""  # the summary's heading (default: the demo's)
    rerun: str = ""  # the one command that reruns the whole plan (default: the demo's)
    # the fusion story: fusion mode -> its sampling report folder, and why there are none
    mode_samples: dict[str, Path] = field(default_factory=dict)
    no_mode_samples: str = ""
    # torch intra-op threads of the in-process steps: the demo's models are so small that a
    # second thread gains little, and with the other core busy (a Ray worker, anything else)
    # torch's OpenMP threads wait on each other: measured 14x slower hyperrep epochs
    threads: int = 1
    wall: float = 0.0  # seconds the whole plan took (steps may overlap: hyperzoo.runner)

    @property
    def real_data(self) -> bool:
        return self.data_root is not None


def parse_data(value: str | None) -> tuple[str | None, str | None]:
    """``eurosat-rgb:PATH`` / ``benge:PATH`` -> (kind, absolute root)."""
    if value is None:
        return None, None
    kind, sep, root = value.partition(":")
    if not sep or kind not in DATA_KINDS or not root:
        raise ConfigError(f"--data must be KIND:PATH with KIND one of {sorted(DATA_KINDS)}, got {value!r}")
    from eo_tasks.data.config import DataConfig

    path = DataConfig(root=root).root_path()
    if not path.is_dir():
        raise FileNotFoundError(f"--data: dataset folder {path} does not exist")
    return kind, str(path)


def _zoo_config(plan: DemoPlan) -> Path:
    """The population config the demo runs, written into the output folder so it can be rerun."""
    raw = tomllib.loads(demo_config("zoo_quick.toml" if plan.quick else "zoo.toml"))
    if plan.data_kind is not None:
        data = {k: v for k, v in raw["data"].items() if k in ("image_size", "split_seed", "fractions")}
        data.update(kind=plan.data_kind, root=plan.data_root)
        if plan.data_kind == "benge":
            data["modalities"] = raw["data"]["modalities"]  # the fusion modes need S2, S1 and season
        else:  # EuroSAT has one image modality: the S2 baseline only
            raw["population"].pop("variants", None)
            raw["model"]["fusion"] = "single"
        raw["data"] = data
    path = plan.out / "zoo.toml"
    path.write_text(f"# written by hyperzoo demo{' --quick' if plan.quick else ''}\n" + dump_toml(raw))
    return path


def _sample_has_arch() -> bool:
    """Whether this install's ``hyperzoo sample`` can sample one architecture of a mixed zoo."""
    from hyperzoo.cli import build_parser

    sub = next(a for a in build_parser()._actions if a.dest == "command")
    sample = sub.choices.get("sample")
    return sample is not None and any("--arch" in a.option_strings for a in sample._actions)


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
    where the run that reads properties best decodes poorly (docs/hyperrep-ablation.md)."""
    o = lambda name: str(out / name)  # noqa: E731
    zr = ["--zoo", o("zoo.h5"), "--run", o("run")]
    gen = generating_run(out, gen_config)
    pick = ["--arch", arch] if arch else []
    train_gen = [Step("Train the generating hyper-representation",
                      ["hyperrep", "train", "--zoo", o("zoo.h5"), "--config", gen_config, "--out", o("run-gen")],
                      key="hyperrep train gen")] if gen_config else []
    return [
        Step("Describe the zoo", ["zoo", "info", o("zoo.h5"), "--plot", o("zoo_accuracy.png")]),
        Step("Train the hyper-representation",
             ["hyperrep", "train", "--zoo", o("zoo.h5"), "--config", rep_config, "--out", o("run")]),
        *train_gen,
        Step("Embed every checkpoint", ["hyperrep", "embed", "--run", o("run"), "--zoo", o("zoo.h5"), "--out", o("embeddings.h5")],
             done_when=o("embeddings.h5")),
        Step("Predict properties from weights", ["predict", *zr, "--out", o("predict"), *predict, "--overwrite"],
             done_when=o("predict/command.txt")),
        Step("Sample unseen models" + (f" ({arch})" if arch else ""),
             ["sample", *gen, *pick, "--out", o("sampled.h5"), "--method", method, *sample, "--report", o("sample"),
              "--overwrite"], done_when=o("sample/command.txt")),
        *more,
        Step("Sparsify trained and sampled models" + (f" ({arch})" if arch else ""),
             ["sparsify", *gen, *pick, "--sampled", o("sampled.h5"), "--out", o("sparsify"), *sparsify],
             done_when=o("sparsify/command.txt")),
    ]


# The demo's step options. Each trims what a step repeats, not what it shows (measured on a
# loaded 2-core machine, CPU seconds; README "On a fresh machine"):
# - predict: the two feature sets the fusion questions compare across architectures, pool(emb)
#   and s(W) (raw W and per-token embeddings are n/a in a mixed zoo), ridge and GBT on both;
# - sampling: one report with fine-tuning and the memorisation check for the mode sparsified,
#   zero-shot accuracy only for the other modes;
# - sparsify: 4 models per source and 3 ratios besides the dense reference (the curve's knee
#   lies between 0.5 and 0.9 in every demo zoo), instead of every anchor at 5 ratios.
PREDICT = ["--features", "pool(emb)", "s(W)", "--threads", "1"]
# every mode is sampled (and the robust draws made) as the EuroSAT pipeline samples: around
# single anchors, each draw plus its anchor's decoding error (docs/sampling.md)
RESIDUAL = ["--residual", "anchor"]
DEFAULT_SAMPLER = ["--method", "neighbour", *RESIDUAL]
SPARSIFY_ARCH = "late"  # the mode the full sampling report and sparsification use
# quick: 2 training models per mode (4 per mode, split per architecture), so both are anchors
QUICK = dict(n="6", finetune=["--anchors", "2", "--finetune-epochs", "1", "--finetune-models", "2", "--candidates", "4"],
             modes=["--anchors", "2", "--n", "4", "--finetune-models", "0", "--candidates", "2"],
             sparsify=["--anchors", "2", "--ratios", "0.5,0.8", "--max-models", "3", "--n", "3"])
FULL = dict(n="16", finetune=["--finetune-epochs", "2", "--finetune-models", "3", "--candidates", "8"],
            modes=["--n", "8", "--finetune-models", "0", "--candidates", "4"],
            sparsify=["--ratios", "0.5,0.8,0.9", "--max-models", "4", "--n", "4"])


def make_plan(out: Path, quick: bool, data: str | None) -> DemoPlan:
    kind, root = parse_data(data)
    plan = DemoPlan(out=out, quick=quick, data_kind=kind, data_root=root)
    out.mkdir(parents=True, exist_ok=True)
    zoo_config = _zoo_config(plan)
    (out / "hyperrep.toml").write_text(demo_config("hyperrep_quick.toml" if quick else "hyperrep.toml"))
    opts = QUICK if quick else FULL
    modes = _modes(zoo_config)
    per_mode = len(modes) > 1 and _sample_has_arch()
    arch = SPARSIFY_ARCH if per_mode else None
    more: list[Step] = []
    if per_mode:
        more = mode_sample_steps(out, [m for m in modes if m != arch], opts["modes"], DEFAULT_SAMPLER)
        plan.mode_samples = {m: out / ("sample" if m == arch else f"sample-{m}") for m in modes}
    elif len(modes) > 1:
        plan.no_mode_samples = "this install's `hyperzoo sample` has no --arch (sampling one fusion mode of a mixed zoo)"
    else:
        plan.mode_samples = {modes[0]: out / "sample"}
    plan.steps = [
        Step("Generate the zoo (Ray, local)", ["zoo", "generate", "--config", str(zoo_config), "--out", str(out / "zoo.h5")]),
        *pipeline_steps(out, str(out / "hyperrep.toml"), predict=PREDICT, method="neighbour",
                        sample=[*RESIDUAL, "--n", opts["n"], *opts["finetune"]],
                        sparsify=[*opts["sparsify"], *DEFAULT_SAMPLER], more=more, arch=arch),
    ]
    return plan


def _modes(zoo_config: Path) -> list[str]:
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


class _Tee(io.TextIOBase):
    """Writes to the terminal (progress stays visible) and keeps a copy for the summary."""

    def __init__(self, stream) -> None:
        self.stream, self.buffer = stream, io.StringIO()

    def write(self, text: str) -> int:
        self.stream.write(text)
        self.stream.flush()
        return self.buffer.write(text)


def _run_in_process(plan: DemoPlan, keep_done: bool) -> None:
    """The steps one after another, each through ``hyperzoo.cli.main`` in this process, its
    stdout shown and kept for the summary."""
    from eo_tasks.train.loop import torch_threads
    from hyperzoo.cli import main

    total = len(plan.steps)
    for i, step in enumerate(plan.steps, 1):
        if step.keep(keep_done, i, total):
            continue
        print(f"\n[{i}/{total}] {step.title}\n$ hyperzoo {shlex.join(step.argv)}", file=sys.stderr, flush=True)
        tee = _Tee(sys.stdout)
        start = time.perf_counter()
        with contextlib.redirect_stdout(tee), torch_threads(plan.threads):
            code = main(step.argv)
        step.seconds = time.perf_counter() - start
        step.stdout = tee.buffer.getvalue()
        if code != 0:
            raise RuntimeError(f"demo step {i} ({step.title}) failed with exit code {code}")
        step.finished = True


STEP_TIMES = "step_times.json"


def remember_times(plan: DemoPlan) -> None:
    """Record each step finished now in ``OUT/step_times.json`` (seconds, keyed by its command)
    and give each kept step the seconds its earlier run recorded, so that a ``--keep-done``
    rerun's summary still quotes every step's wall time. A step whose command changed has no
    record: its kept output came from another command."""
    path = plan.out / STEP_TIMES
    try:
        times = json.loads(path.read_text()) if path.is_file() else {}
    except (OSError, ValueError):
        times = {}  # a damaged record costs only the quoted times; it is rewritten below
    for step in plan.steps:
        command = shlex.join(step.argv)
        if step.finished:
            times[command] = round(step.seconds, 1)
        elif step.skipped:
            step.earlier = times.get(command)
    plan.out.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(times, indent=1) + "\n")
    tmp.replace(path)


def run_plan(plan: DemoPlan, keep_done: bool = False, jobs: int = 1) -> Path:
    """Run every step, then write the summary. ``keep_done`` skips a step whose outputs an
    earlier run left complete (delete a step's output to redo it and what reads it).
    ``jobs`` > 1 runs up to that many independent steps at once, as child processes with
    their logs in OUT/logs (:mod:`hyperzoo.runner`); 1 runs them in order, in this process."""
    if jobs < 1:
        raise ConfigError(f"--jobs must be >= 1, got {jobs}")
    begin = time.perf_counter()
    try:
        if jobs > 1:
            from hyperzoo.runner import run_parallel

            print(f"running up to {jobs} steps at once; each step's output goes to {plan.out / 'logs'}",
                  file=sys.stderr)
            run_parallel(plan.steps, jobs, plan.out / "logs", threads=plan.threads, keep_done=keep_done)
        else:
            _run_in_process(plan, keep_done)
    finally:  # the steps that finished keep their times, even when a later one fails
        remember_times(plan)
    plan.wall = time.perf_counter() - begin
    from hyperzoo.summary import write_summary

    path = write_summary(plan)
    print(f"\nsummary: {path}", file=sys.stderr)
    return path


EUROSAT_SCALE = "0.1"  # neighbour noise of the EuroSAT default sampler (docs/sampling.md)


def eurosat_plan(out: Path, data_root: str, zoo_config: Path, rep_config: Path, zoo: str | None = None,
                 max_workers: int = 0, predict: tuple[str, ...] = ("--threads", "1"), rerun: str = "",
                 gen_config: Path | None = None) -> DemoPlan:
    """The full pipeline on real EuroSAT RGB with the project's sized configs, which the caller
    names (scripts/eurosat_results.py: the checkout's configs/zoos/eurosat_rgb.toml and
    configs/hyperrep/eurosat.toml): the README's results table.

    ``zoo`` reuses a zoo file already generated from ``zoo_config`` (it is linked, not copied)."""
    root = Path(data_root).expanduser().resolve()
    if not root.is_dir():
        raise FileNotFoundError(f"--data: EuroSAT RGB folder {root} does not exist")
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
    # the comparisons beside the default sampler: the same neighbour draws without the decoder
    # residual, and the best KDE of docs/sampling.md (a density over 4 principal components of
    # the anchors, not over 4,224 dimensions), plain
    more = [
        Step("Sample around single anchors, without the decoder residual",
             ["sample", *gen, "--out", o("sampled-neighbour.h5"), "--method", "neighbour", "--n", "32", "--select",
              "16", "--report", o("sample-neighbour"), "--finetune-epochs", "1", "--finetune-models", "2",
              "--overwrite"], done_when=o("sample-neighbour/command.txt"), key="sample neighbour"),
        Step("Sample from a KDE in the anchors' principal components",
             ["sample", *gen, "--out", o("sampled-kde-pca.h5"), "--method", "kde-pca", "--pca-components", "4",
              "--n", "64", "--select", "16", "--report", o("sample-kde-pca"), "--finetune-epochs", "1",
              "--finetune-models", "2", "--overwrite"], done_when=o("sample-kde-pca/command.txt"),
             key="sample kde-pca"),
    ]
    # the default sampler (docs/sampling.md, "Decoder residual", chosen on validation accuracy):
    # a draw near one anchor, plus that anchor's decoding error; 64 drawn, the best 16 by val acc
    default = ["--scale", EUROSAT_SCALE, *RESIDUAL]
    steps += pipeline_steps(
        out, str(Path(rep_config).resolve()), predict=list(predict),
        # every kept sample fine-tuned beside the anchor it was drawn around (16 pairs: with 5 the
        # difference was inside the noise of the models picked, docs/sampling.md)
        method="neighbour", sample=[*default, "--n", "64", "--select", "16", "--finetune-models", "16"],
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
    plan.rerun = rerun or f"python scripts/eurosat_results.py --data {root} --out {out.parent}"
    return plan


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
    modes = _modes(Path(zoo_config))
    arch = SPARSIFY_ARCH if SPARSIFY_ARCH in modes else modes[0]
    others = [m for m in modes if m != arch]
    plan.mode_samples = {m: out / ("sample" if m == arch else f"sample-{m}") for m in modes}
    predict = ["--threads", "1", "--supervised", "--supervised-properties", "test_acc", "test_acc_cloudy"]
    sample = ["--n", "32", "--select", "16", "--finetune-epochs", "1", "--finetune-models", "4"]
    steps += pipeline_steps(out, str(Path(rep_config).resolve()), predict=predict, sample=sample,
                            sparsify=["--ratios", "0.5,0.7,0.8,0.9", "--max-models", "8", "--n", "8"],
                            more=mode_sample_steps(out, others, ["--n", "32", "--select", "16",
                                                                 "--finetune-models", "0"]), arch=arch)
    plan.steps = steps
    plan.rerun = (f"python scripts/fusion_results.py --out {out}" + (f" --zoo {zoo}" if zoo else "")
                  + " --keep-done")
    return plan


def run_demo(out: str | Path = "demo-out", quick: bool = False, data: str | None = None, jobs: int = 1) -> Path:
    return run_plan(make_plan(Path(out).resolve(), quick, data), jobs=jobs)
