"""Results tables in the README and docs/ as generated blocks, never typed by hand.

A command that produces published figures writes a small results folder under
``docs/results/<name>/`` (:func:`publish`: the CSV summaries its tables are made of, and
``provenance.json`` with the command, the date and where the zoo came from). Every table in
a markdown file sits between two marker comments naming its block::

    <!-- BEGIN GENERATED <block>: python scripts/refresh_docs.py writes this from docs/results/ -->
    ...
    <!-- END GENERATED <block> -->

:func:`refresh` rewrites every block from the committed folders and
``tests/test_docblocks.py`` fails when a block differs from what :func:`render` makes of
them, so a figure in the docs is always the one its files hold. Nothing is read back from
markdown.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd

from hyperzoo.wildpark import PROPERTIES as WILDPARK_PROPERTIES

RESULTS = Path("docs/results")  # relative to the checkout
BEGIN = "<!-- BEGIN GENERATED {name}: python scripts/refresh_docs.py writes this from docs/results/ -->"
END = "<!-- END GENERATED {name} -->"
_BLOCK = re.compile(r"<!-- BEGIN GENERATED (?P<name>[\w./-]+): [^>]*-->\n(?P<body>.*?)<!-- END GENERATED (?P=name) -->",
                    re.S)
# the columns of a properties block, in this order, where present: the wild park's, then a fusion
# zoo's robustness pair (hyperzoo.fusion.ROBUSTNESS; that module imports the learning stack)
PROPERTIES = (*WILDPARK_PROPERTIES, "test_acc_cloudy", "cloudy_drop")


@dataclass(frozen=True)
class Block:
    name: str  # "<folder>/<kind>", e.g. "wildpark/properties"
    render: Callable[[Path], str]  # the results folder -> the block's markdown


def _provenance(folder: Path) -> dict:
    path = folder / "provenance.json"
    if not path.is_file():
        raise FileNotFoundError(f"{path}: missing; a results folder is written by hyperzoo.docblocks.publish")
    return json.loads(path.read_text())


def _source_line(folder: Path) -> str:
    p = _provenance(folder)
    return (f"*{p['label']}: written {p['date']} by `{p['command']}`; zoo: {p['zoo']}. "
            f"Files: `{(RESULTS / folder.name).as_posix()}/`.*\n\n")


def _ci(r: pd.Series, metric: str) -> str:
    value = r.get(metric, np.nan)
    if not np.isfinite(value):
        return "n/a"
    lo, hi = r.get(f"{metric}_lo", np.nan), r.get(f"{metric}_hi", np.nan)
    return f"{value:.3f} [{lo:.2f}, {hi:.2f}]" if np.isfinite(lo) else f"{value:.3f}"


def render_zoo(folder: Path) -> str:
    source = _source_line(folder)
    z = pd.read_csv(folder / "zoo.csv").iloc[0]
    return (source
            + "| models | architectures | parameters | wall time | final test accuracy: best / q75 / median / q25 |\n"
            + "|---|---|---|---|---|\n"
            + f"| {int(z['models'])} ({z['data']}) | {int(z['architectures'])} | {int(z['params_min']):,} to "
            + f"{int(z['params_max']):,} | {z['wall_time']} | {z['best']:.3f} / {z['q75']:.3f} / {z['median']:.3f} / "
            + f"{z['q25']:.3f} |\n")


def render_properties(folder: Path) -> str:
    """Rows chosen in ``rows.csv`` (label, feature_set, predictor; or a group of feature sets
    whose best row by validation stands for them) against every property's R² and τ."""
    from hyperrep.downstream import best_by_validation

    source = _source_line(folder)
    res = pd.read_csv(folder / "results.csv")
    spec = pd.read_csv(folder / "rows.csv")
    props = [p for p in PROPERTIES if p in set(res["property"])]
    head = "| readout | " + " | ".join(f"{p} R² | {p} τ" for p in props) + " |"
    lines = [head, "|---" * (1 + 2 * len(props)) + "|"]
    for r in spec.itertuples():
        sets, preds = str(r.feature_sets).split(";"), str(r.predictors).split(";")
        cells = []
        for p in props:
            mine = res[(res["property"] == p) & res["feature_set"].isin(sets) & res["predictor"].isin(preds)]
            row = best_by_validation(mine) if len(mine) > 1 else (mine.iloc[0] if len(mine) else None)
            cells += ["n/a", "n/a"] if row is None else [_ci(row, "r2"), _ci(row, "kendall_tau")]
        lines.append(f"| {r.label} | " + " | ".join(cells) + " |")
    n = int(res["n_test_models"].max())
    return (source + f"{n} test models; 95% bootstrap intervals over test models; where a row "
            "names several readouts, the one with the best validation score stands for them.\n\n"
            + "\n".join(lines) + "\n")


def render_table(folder: Path) -> str:
    """``table.csv`` as it is (an ablation's rows, written by the command named above it)."""
    source = _source_line(folder)
    t = pd.read_csv(folder / "table.csv", keep_default_na=False)
    lines = ["| " + " | ".join(t.columns) + " |", "|" + "---|" * len(t.columns)]
    lines += ["| " + " | ".join(str(v) for v in row) + " |" for row in t.itertuples(index=False)]
    return source + "\n".join(lines) + "\n"


def _pairs(g: pd.Series) -> str:
    n, lo, hi = int(g.get("finetune_pairs", 0)), g.get("finetune_lo", np.nan), g.get("finetune_hi", np.nan)
    if not n:
        return ""
    return f" ({n} pairs, [{lo:+.3f}, {hi:+.3f}])" if np.isfinite(lo) else f" ({n} pairs; no interval under 5 anchors)"


def render_generation(folder: Path) -> str:
    """What decoding keeps, the sampler chosen on validation, and issue 37's goals, from the
    files ``scripts/sampling_results.py`` writes (hyperzoo.generation)."""
    source = _source_line(folder)
    g = pd.read_csv(folder / "generation.csv").iloc[0]
    fid = pd.read_csv(folder / "fidelity_summary.csv")
    sweep = pd.read_csv(folder / "sweep.csv")
    lines = ["decode(embed(w)) on held-out models, no residual (accuracy of the decoded model over w's, each on "
             "its own split's images; 95% interval over models):", "",
             "| models | retention | keep >= 90% | accuracy: w / decoded | agreement |", "|---|---|---|---|---|"]
    lines += [f"| {int(r.models)} {r.split} | {r.retention:.3f} [{r.retention_lo:.2f}, {r.retention_hi:.2f}] | "
              f"{r.share_90:.0%} | {r.acc:.3f} / {r.recon_acc:.3f} | {r.agreement:.2f} |" for r in fid.itertuples()]
    lines += ["", f"The sampler, chosen on validation accuracy of its kept draws under the novelty floor "
              f"(architecture {int(g['arch'])}):", "",
              "| setting | kept: val. acc mean / best | novelty (x zoo spacing) | kept meeting the floor | chosen |",
              "|---|---|---|---|---|"]
    lines += [f"| {r.setting} | {r.val_acc_mean:.3f} / {r.val_acc_best:.3f} | {r.novelty_mean:.2f} | "
              f"{r.share_meeting_floor:.0%} | {'**yes**' if r.chosen else ''} |" for r in sweep.itertuples()]
    ft = g["finetuned_minus_own_anchor"]
    lines += ["", "Test figures of the chosen sampler's kept samples (issue 37's goals in brackets):", "",
              "| figure | value |", "|---|---|",
              f"| nearest training model, aligned, x zoo spacing ({g['zoo_spacing']:.3g}) [>= 0.25] | "
              f"{g['relative_to_zoo']:.2f} |",
              f"| more novel than both matched baselines [yes] | {g['novel_against_baselines']} |",
              f"| best zero-shot sample / zoo's best ({g['zoo_best']:.3f}) [>= 95%] | {g['sampled_best']:.3f} "
              f"({g['best_vs_zoo_best']:.0%}) |",
              f"| median zero-shot sample / zoo's 75th percentile [>=] | {g['sampled_median']:.3f} / {g['zoo_q75']:.3f} |",
              f"| best anchor / decode(embed(anchor)) / random init | {g['anchor_best']:.3f} / "
              f"{g['recon_anchor_best']:.3f} / {g['random_best']:.3f} |",
              f"| after 1 epoch of fine-tuning, sample - own anchor [>= 0] | "
              + (f"{ft:+.3f}" if np.isfinite(ft) else "n/a") + _pairs(g) + " |"]
    return source + "\n".join(lines) + "\n"


KINDS: dict[str, Callable[[Path], str]] = {"zoo": render_zoo, "properties": render_properties, "table": render_table,
                                           "generation": render_generation}


def render(name: str, root: Path) -> str:
    folder, _, kind = name.rpartition("/")
    if kind not in KINDS:
        raise KeyError(f"block {name!r}: unknown kind {kind!r}; expected one of {sorted(KINDS)}")
    return KINDS[kind](root / RESULTS / folder if not Path(folder).is_absolute() else Path(folder))


def blocks(text: str) -> list[tuple[str, str]]:
    """(name, body) of every generated block of a markdown text."""
    return [(m["name"], m["body"]) for m in _BLOCK.finditer(text)]


def refreshed(text: str, root: Path) -> str:
    def body(m: re.Match) -> str:
        return f"{BEGIN.format(name=m['name'])}\n{render(m['name'], root)}{END.format(name=m['name'])}"

    return _BLOCK.sub(body, text)


def refresh(paths: Iterable[Path], root: Path) -> list[Path]:
    """Rewrite every generated block of ``paths``; returns the files that changed."""
    changed = []
    for path in paths:
        text = path.read_text()
        new = refreshed(text, root)
        if new != text:
            path.write_text(new)
            changed.append(path)
    return changed


def doc_files(root: Path) -> list[Path]:
    return [root / "README.md", *sorted((root / "docs").glob("*.md"))]


def publish(dest: Path, *, label: str, command: str, zoo: str, files: dict[str, pd.DataFrame]) -> Path:
    """Write a results folder: ``files`` (name -> table) as CSV and ``provenance.json``."""
    dest.mkdir(parents=True, exist_ok=True)
    for name, table in files.items():
        table.to_csv(dest / name, index=False, float_format="%.6g")
    (dest / "provenance.json").write_text(json.dumps(
        {"label": label, "command": command, "zoo": zoo, "date": date.today().isoformat()}, indent=1) + "\n")
    return dest


def zoo_summary(zoo_path: Path, wall_time: str) -> pd.DataFrame:
    """One row: what a zoo holds and its final test-accuracy spread (the ``zoo`` block)."""
    from zoo import Zoo

    with Zoo.open(zoo_path) as zoo:
        table, metrics, task = zoo.table, zoo.metrics, zoo.task
        params = [layout.num_params for layout in zoo.layouts]
    done = table.index[table["status"] == "done"]
    final = metrics[metrics["model"].isin(done)].sort_values("epoch").groupby("model").tail(1)["test_acc"]
    q = final.quantile([0.25, 0.5, 0.75])
    return pd.DataFrame([{
        "models": len(done), "data": f"{'synthetic' if task.synthetic else 'real'} {task.dataset}, "
                                    f"{task.image_size}x{task.image_size}",
        "architectures": len(params), "params_min": min(params), "params_max": max(params),
        "wall_time": wall_time, "best": final.max(), "q75": q[0.75], "median": q[0.5], "q25": q[0.25]}])
