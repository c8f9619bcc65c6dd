"""The main job: zoo -> hyper-representation -> property report -> sampling -> sparsity.

Every step runs the very ``hyperzoo`` subcommand a user would type (in-process), and the
summary quotes that command next to the figures read back from the files it wrote, so the
summary and the individual commands always agree.
"""

from __future__ import annotations

import contextlib
import io
import shlex
import sys
import time
import tomllib
from dataclasses import dataclass, field
from importlib.resources import files
from pathlib import Path

from eo_tasks.config import ConfigError, dump_toml, load_toml

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

    @property
    def name(self) -> str:
        return self.key or " ".join(self.argv[:2] if self.argv[0] in ("zoo", "hyperrep") else self.argv[:1])


@dataclass
class DemoPlan:
    out: Path
    quick: bool
    data_kind: str | None = None
    data_root: str | None = None
    steps: list[Step] = field(default_factory=list)
    title: str = ""  # the summary's heading (default: the demo's)
    rerun: str = ""  # the one command that reruns the whole plan (default: the demo's)

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
            data["modalities"] = ["s2", "s1"]
            raw["model"]["fusion"] = "late"
        raw["data"] = data
    path = plan.out / "zoo.toml"
    path.write_text(f"# written by hyperzoo demo{' --quick' if plan.quick else ''}\n" + dump_toml(raw))
    return path


def pipeline_steps(out: Path, rep_config: str, predict: list[str], sample: list[str], sparsify: list[str],
                   more: list[Step] = ()) -> list[Step]:
    """The steps after the zoo exists (OUT/zoo.h5); ``predict``/``sample``/``sparsify`` are
    their extra options, ``more`` steps go before sparsification."""
    o = lambda name: str(out / name)  # noqa: E731
    zr = ["--zoo", o("zoo.h5"), "--run", o("run")]
    return [
        Step("Describe the zoo", ["zoo", "info", o("zoo.h5"), "--plot", o("zoo_accuracy.png")]),
        Step("Train the hyper-representation",
             ["hyperrep", "train", "--zoo", o("zoo.h5"), "--config", rep_config, "--out", o("run")]),
        Step("Embed every checkpoint", ["hyperrep", "embed", "--run", o("run"), "--zoo", o("zoo.h5"), "--out", o("embeddings.h5")],
             done_when=o("embeddings.h5")),
        Step("Predict properties from weights", ["predict", *zr, "--out", o("predict"), *predict, "--overwrite"],
             done_when=o("predict/command.txt")),
        Step("Sample unseen models",
             ["sample", *zr, "--out", o("sampled.h5"), "--method", "kde", *sample, "--report", o("sample"),
              "--overwrite"], done_when=o("sample/command.txt")),
        *more,
        Step("Sparsify trained and sampled models",
             ["sparsify", *zr, "--sampled", o("sampled.h5"), "--out", o("sparsify"), *sparsify],
             done_when=o("sparsify/command.txt")),
    ]


def make_plan(out: Path, quick: bool, data: str | None) -> DemoPlan:
    kind, root = parse_data(data)
    plan = DemoPlan(out=out, quick=quick, data_kind=kind, data_root=root)
    out.mkdir(parents=True, exist_ok=True)
    _zoo_config(plan)
    (out / "hyperrep.toml").write_text(demo_config("hyperrep_quick.toml" if quick else "hyperrep.toml"))
    n_sample, ratios = ("8", "0.5,0.8") if quick else ("24", "0.3,0.5,0.7,0.8,0.9")
    plan.steps = [
        Step("Generate the zoo (Ray, local)",
             ["zoo", "generate", "--config", str(out / "zoo.toml"), "--out", str(out / "zoo.h5")]),
        *pipeline_steps(
            out, str(out / "hyperrep.toml"), predict=[],
            sample=["--n", n_sample] + (["--finetune-epochs", "1", "--finetune-models", "2", "--candidates", "8"]
                                        if quick else []),
            sparsify=["--ratios", ratios] + (["--max-models", "4", "--n", "4"] if quick else []),
        ),
    ]
    return plan


class _Tee(io.TextIOBase):
    """Writes to the terminal (progress stays visible) and keeps a copy for the summary."""

    def __init__(self, stream) -> None:
        self.stream, self.buffer = stream, io.StringIO()

    def write(self, text: str) -> int:
        self.stream.write(text)
        self.stream.flush()
        return self.buffer.write(text)


def run_plan(plan: DemoPlan, keep_done: bool = False) -> Path:
    """Run every step, then write the summary. ``keep_done`` skips a step whose outputs an
    earlier run left complete (delete a step's output to redo it and what reads it)."""
    from hyperzoo.cli import main

    total = len(plan.steps)
    for i, step in enumerate(plan.steps, 1):
        if keep_done and step.done_when and Path(step.done_when).exists():
            step.skipped = True
            print(f"\n[{i}/{total}] {step.title}: kept from an earlier run ({step.done_when})", file=sys.stderr)
            continue
        print(f"\n[{i}/{total}] {step.title}\n$ hyperzoo {shlex.join(step.argv)}", file=sys.stderr, flush=True)
        tee = _Tee(sys.stdout)
        start = time.perf_counter()
        with contextlib.redirect_stdout(tee):
            code = main(step.argv)
        step.seconds = time.perf_counter() - start
        step.stdout = tee.buffer.getvalue()
        if code != 0:
            raise RuntimeError(f"demo step {i} ({step.title}) failed with exit code {code}")
    from hyperzoo.summary import write_summary

    path = write_summary(plan)
    print(f"\nsummary: {path}", file=sys.stderr)
    return path


def eurosat_plan(out: Path, data_root: str, zoo_config: Path, rep_config: Path, zoo: str | None = None,
                 max_workers: int = 0) -> DemoPlan:
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
    neighbour = Step("Sample unseen models around single anchors",
                     ["sample", "--zoo", o("zoo.h5"), "--run", o("run"), "--out", o("sampled-neighbour.h5"),
                      "--method", "neighbour", "--n", "32", "--select", "16", "--report", o("sample-neighbour"),
                      "--finetune-epochs", "1", "--finetune-models", "2", "--overwrite"],
                     done_when=o("sample-neighbour/command.txt"), key="sample neighbour")
    steps += pipeline_steps(
        out, str(Path(rep_config).resolve()), predict=["--threads", "1"],
        sample=["--n", "32", "--select", "16"],
        sparsify=["--ratios", "0.3,0.5,0.7,0.8,0.9", "--max-models", "8", "--n", "16", "--select", "8",
                  "--robust-shift", "0.5"],
        more=[neighbour],
    )
    plan.steps = steps
    plan.title = "hyperzoo on real EuroSAT RGB"
    plan.rerun = f"python scripts/eurosat_results.py --data {root} --out {out}" + (f" --zoo {zoo}" if zoo else "")
    return plan


def run_demo(out: str | Path = "demo-out", quick: bool = False, data: str | None = None) -> Path:
    return run_plan(make_plan(Path(out).resolve(), quick, data))
