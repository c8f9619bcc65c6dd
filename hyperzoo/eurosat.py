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
    at once where they do not depend on each other (``hyperzoo.demo.run_plan``)."""
    from hyperzoo.demo import eurosat_plan, run_plan

    out.mkdir(parents=True, exist_ok=True)
    for name, zoo in zoos.items():
        zoo_config, rep_config = (configs / c for c in ZOOS[name])
        plan = eurosat_plan(out / name, data_root, zoo_config, rep_config, zoo=zoo, max_workers=max_workers,
                            predict=PREDICT, rerun=rerun, gen_config=configs / GENERATE)
        run_plan(plan, keep_done=keep_done, jobs=jobs)
    return write_summary(out, rerun)


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
