"""The demo's ``summary.md``: each step's command, wall time, key figures and plots.

Figures are quoted from the files and the output each command wrote, never recomputed,
so they match what running that command by hand prints.
"""

from __future__ import annotations

import platform
import shlex
from pathlib import Path

import pandas as pd

from hyperzoo import __version__
from hyperzoo.verdict import verdict

# sampling steps that compare with the pipeline's sampler (hyperzoo.eurosat.eurosat_plan): step key ->
# (report folder, section title); every other "sample MODE" step samples one fusion mode
COMPARISONS = {
    "sample residual": ("sample-residual", "Sampling around single anchors, with the decoder residual (near-copies)"),
    "sample kde-pca": ("sample-kde-pca", "Sampling from a KDE in the anchors' principal components"),
}


def _rel(plan, path: Path) -> str:
    return str(path.relative_to(plan.out))


def _image(plan, path: Path, alt: str) -> str:
    return f"![{alt}]({_rel(plan, path)})\n" if path.exists() else ""


def _include(path: Path, drop_title: bool = True) -> str:
    if not path.exists():
        return f"_({path.name} was not written)_\n"
    lines = path.read_text().rstrip().splitlines()
    if drop_title and lines and lines[0].startswith("# "):
        lines = lines[1:]
    # demote headings so they nest under this summary's sections
    return "\n".join("##" + line if line.startswith("#") else line for line in lines).strip() + "\n"


def _hyperrep_figures(run: Path) -> str:
    history = run / "history.csv"
    if not history.exists():
        return ""
    h = pd.read_csv(history)
    last = h.iloc[-1]
    cols = [c for c in h.columns if c != "epoch"]
    cells = ", ".join(f"{c} = {last[c]:.4g}" for c in cols)
    return f"Final epoch {int(last['epoch'])}: {cells}.\n"


def _data_line(plan) -> str:
    if plan.real_data:
        return f"**Real data**: `{plan.data_kind}` from `{plan.data_root}`."
    return ("**Synthetic data** (the embedded generator, `hyperzoo data synth`): these figures describe "
            "synthetic stand-ins, not EuroSAT or ben-ge.")


def _fusion_section(plan) -> str:
    """The four fusion answers and their figure (fusion.png), from the zoo, the predict report
    and the per-mode sampling reports this plan wrote."""
    from hyperzoo.fusion import fusion_story, story_markdown
    from hyperzoo.fusion_plot import save_fusion_figure

    out = plan.out
    try:
        story = fusion_story(out / "zoo.h5", out / "predict", plan.mode_samples, plan.no_mode_samples)
    except FileNotFoundError as err:
        return f"_missing: {err.filename}_\n"
    save_fusion_figure(story, out / "fusion.png", "synthetic data" if not plan.real_data else "real data")
    return story_markdown(story, "fusion.png")


def wall_cell(step) -> str:
    """A step's wall time for the summary's table: now, or as an earlier run recorded it."""
    if not step.skipped:
        return f"{step.seconds:.1f} s"
    return "kept from an earlier run" if step.earlier is None else f"{step.earlier:.1f} s (earlier run)"


def write_summary(plan) -> Path:
    out = plan.out
    steps = {s.name: s for s in plan.steps}
    total = plan.wall or sum(s.seconds for s in plan.steps)
    parts = [
        f"# {plan.title or 'hyperzoo demo' + (' (quick)' if plan.quick else '')}\n",
        _data_line(plan) + "\n",
        "".join(f"- {line}\n" for line in verdict(out / "zoo.h5", out / "predict", out / "sample", out / "sparsify")),
        f"hyperzoo {__version__}, Python {platform.python_version()}, {platform.machine()}; "
        f"total wall time {total:.0f} s"
        + (f" for the steps run now; {sum(s.skipped for s in plan.steps)} kept from an earlier run (the table "
           "quotes their earlier wall times where that run recorded them)" if any(s.skipped for s in plan.steps)
           else "") + ".\n",
        "Rerun everything with `"
        + (plan.rerun or ("hyperzoo demo" + (" --quick" if plan.quick else "")
                          + (f" --data {plan.data_kind}:{plan.data_root}" if plan.real_data else "")
                          + f" --out {shlex.quote(str(out))}"))
        + "`, or any step alone with the command shown under it.\n",
        "| step | command | wall time |\n|---|---|---:|\n"
        + "".join(f"| {s.title} | `hyperzoo {shlex.join(s.argv)}` | "
                  f"{wall_cell(s)} |\n" for s in plan.steps),
    ]

    from hyperzoo.results import results_table

    parts.append("## At a glance\n\n" + results_table(out / "zoo.h5", out / "run", out / "predict", out / "sample",
                                                       out / "sparsify", *(out / d for d, _ in COMPARISONS.values())))

    parts.append("## The fusion story\n\n" + _fusion_section(plan))

    def section(title: str, key: str, body: str) -> None:
        step = steps[key]
        parts.append(f"## {title}\n\n```\nhyperzoo {shlex.join(step.argv)}\n```\n\n{body}")

    info = steps["zoo info"].stdout.strip()
    section("The zoo", "zoo info", f"```\n{info}\n```\n\n" + _image(plan, out / "zoo_accuracy.png", "accuracy curves"))
    section("Hyper-representation", "hyperrep train",
            _hyperrep_figures(out / "run") + "\n" + _image(plan, out / "run" / "curves.png", "training curves"))
    section("Property prediction", "predict",
            _include(out / "predict" / "summary.md") + "\n" + _include(out / "predict" / "results.md") + "\n"
            + _image(plan, out / "predict" / "embedding_pca.png", "embedding PCA"))
    section("Sampling", "sample",
            _include(out / "sample" / "summary.md") + "\n"
            + _image(plan, out / "sample" / "zero_shot_hist.png", "zero-shot accuracy")
            + _image(plan, out / "sample" / "finetune.png", "fine-tuning curves"))
    for key in (k for k in steps if k.startswith("sample ") and k not in COMPARISONS):
        mode = key.removeprefix("sample ")
        section(f"Sampling {mode} models", key, f"Zero-shot accuracy only (no fine-tuning): its report is "
                f"[sample-{mode}/summary.md](sample-{mode}/summary.md); the fusion story above quotes it.\n")
    for key, (folder, title) in COMPARISONS.items():
        if key in steps:
            section(title, key, _include(out / folder / "summary.md") + "\n"
                    + _image(plan, out / folder / "zero_shot_hist.png", "zero-shot accuracy"))
    section("Sparsification", "sparsify",
            _include(out / "sparsify" / "summary.md") + "\n" + _image(plan, out / "sparsify" / "curves.png",
                                                                       "accuracy vs sparsity"))
    path = out / "summary.md"
    path.write_text("\n".join(parts))
    return path
