"""The main job: zoo -> hyper-representation -> property report -> sampling -> sparsity.

Every step runs the very ``hyperzoo`` subcommand a user would type (in-process), and the
summary quotes that command next to the figures read back from the files it wrote, so the
summary and the individual commands always agree. This module holds the demo's plan; the
runner is :mod:`hyperzoo.steps`, the steps every plan shares :mod:`hyperzoo.plans`.
"""

from __future__ import annotations

import tomllib
from importlib.resources import files
from pathlib import Path

from eo_tasks import ConfigError, dump_toml, refuse_existing
from hyperzoo.plans import (  # noqa: F401 - DEFAULT_SAMPLER, SPARSIFY_ARCH: the demo's choices, also here
    DEFAULT_SAMPLER, PREDICT, SPARSIFY_ARCH, mode_sample_steps, pipeline_steps, plan_modes,
)
from hyperzoo.steps import DemoPlan, Step

# where callers found these before the runner and the other plans moved out (one release)
from hyperzoo.eurosat import eurosat_plan  # noqa: E402,F401
from hyperzoo.plans import fusion_plan  # noqa: E402,F401
from hyperzoo.steps import STEP_TIMES, remember_times, run_plan  # noqa: E402,F401

DATA_KINDS = {"eurosat-rgb", "eurosat-ms", "benge"}


def demo_config(name: str) -> str:
    """The text of one of the demo's configs (``zoo.toml``, ``hyperrep_quick.toml``, ...). They ship
    inside the package (hyperzoo/configs/demo, package data) so an installed wheel runs the demo
    from any folder, not only from a checkout."""
    return (files("hyperzoo") / "configs" / "demo" / name).read_text(encoding="utf-8")


def parse_data(value: str | None) -> tuple[str | None, str | None]:
    """``eurosat-rgb:PATH`` / ``benge:PATH`` -> (kind, absolute root)."""
    if value is None:
        return None, None
    kind, sep, root = value.partition(":")
    if not sep or kind not in DATA_KINDS or not root:
        raise ConfigError(f"--data must be KIND:PATH with KIND one of {sorted(DATA_KINDS)}, got {value!r}")
    from eo_tasks.data import DataConfig

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


# quick: 2 training models per mode (4 per mode, split per architecture), so both are anchors
QUICK = dict(n="6", finetune=["--anchors", "2", "--finetune-epochs", "1", "--finetune-models", "2", "--candidates", "4"],
             modes=["--anchors", "2", "--n", "4", "--finetune-models", "0", "--candidates", "2"],
             sparsify=["--anchors", "2", "--ratios", "0.5,0.8", "--max-models", "3", "--n", "3"])
FULL = dict(n="16", finetune=["--finetune-epochs", "2", "--finetune-models", "3", "--candidates", "8"],
            modes=["--n", "8", "--finetune-models", "0", "--candidates", "4"],
            sparsify=["--ratios", "0.5,0.8,0.9", "--max-models", "4", "--n", "4"])


def make_plan(out: Path, quick: bool, data: str | None, overwrite: bool = False) -> DemoPlan:
    """The demo's steps into ``out``; ``overwrite`` generates the zoo anew even where ``out``
    holds one made from the same config (``hyperzoo demo --overwrite``)."""
    kind, root = parse_data(data)
    plan = DemoPlan(out=out, quick=quick, data_kind=kind, data_root=root)
    out.mkdir(parents=True, exist_ok=True)
    zoo_config = _zoo_config(plan)
    (out / "hyperrep.toml").write_text(demo_config("hyperrep_quick.toml" if quick else "hyperrep.toml"))
    opts = QUICK if quick else FULL
    modes = plan_modes(zoo_config)
    arch = SPARSIFY_ARCH if len(modes) > 1 else None
    more: list[Step] = []
    if arch:
        more = mode_sample_steps(out, [m for m in modes if m != arch], opts["modes"], DEFAULT_SAMPLER)
        plan.mode_samples = {m: out / ("sample" if m == arch else f"sample-{m}") for m in modes}
    else:
        plan.mode_samples = {modes[0]: out / "sample"}
    generate = ["zoo", "generate", "--config", str(zoo_config), "--out", str(out / "zoo.h5")]
    plan.steps = [
        Step("Generate the zoo (Ray, local)", generate + (["--overwrite"] if overwrite else [])),
        *pipeline_steps(out, str(out / "hyperrep.toml"), predict=PREDICT, method="neighbour",
                        sample=["--n", opts["n"], *opts["finetune"]],
                        sparsify=[*opts["sparsify"], *DEFAULT_SAMPLER], more=more, arch=arch),
    ]
    return plan


def run_demo(out: str | Path = "demo-out", quick: bool = False, data: str | None = None, jobs: int = 1,
             overwrite: bool = False) -> Path:
    """``hyperzoo demo``: an existing, non-empty ``out`` is refused without ``overwrite``."""
    out = Path(out).resolve()
    refuse_existing(out, overwrite)
    return run_plan(make_plan(out, quick, data, overwrite=overwrite), jobs=jobs)
