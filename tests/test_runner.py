"""Steps run several at a time (hyperzoo.runner): real `hyperzoo` child processes writing real
files; which step waits for which is read off the commands."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from hyperzoo.eurosat import eurosat_plan
from hyperzoo.steps import DemoPlan, Step, run_plan
from hyperzoo.runner import dependencies, run_parallel

ROOT = Path(__file__).resolve().parents[1]


def _synth(folder: Path) -> Step:
    return Step(f"synthesise {folder.name}", ["data", "synth", "--kind", "eurosat-rgb", "--out", str(folder), "--n", "20"],
                key=f"synth {folder.name}")


def _info(folder: Path) -> Step:
    return Step(f"describe {folder.name}", ["data", "info", "--data-root", str(folder)], key=f"info {folder.name}")


def test_a_step_waits_for_the_steps_that_write_what_it_names(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    steps = [_synth(a), _synth(b), _info(b), _info(a)]
    assert dependencies(steps) == [set(), set(), {1}, {0}]


def test_the_eurosat_pipeline_trains_both_runs_at_once_and_samples_after_the_generating_one(tmp_path, make_eurosat_rgb):
    data = make_eurosat_rgb(tmp_path / "data")
    plan = eurosat_plan(tmp_path / "out", str(data), ROOT / "configs/zoos/eurosat_rgb.toml",
                        ROOT / "configs/hyperrep/eurosat.toml", gen_config=ROOT / "configs/hyperrep/eurosat_generate.toml")
    names = [s.name for s in plan.steps]
    waits = {s.name: {names[j] for j in d} for s, d in zip(plan.steps, dependencies(plan.steps))}
    assert waits["hyperrep train"] == waits["hyperrep train gen"] == {"zoo generate"}
    assert waits["predict"] == {"zoo generate", "hyperrep train"}
    for sampler in ("sample", "sample residual", "sample kde-pca"):
        assert waits[sampler] == {"zoo generate", "hyperrep train gen"}
    assert waits["sparsify"] == {"zoo generate", "hyperrep train gen", "sample"}


def test_independent_steps_run_as_child_processes_and_their_output_is_kept(tmp_path, capsys):
    a, b = tmp_path / "a", tmp_path / "b"
    steps = [_synth(a), _synth(b), _info(a), _info(b)]
    run_parallel(steps, jobs=2, logs=tmp_path / "logs", report_every=0)
    shown = capsys.readouterr().err
    assert re.search(r"\[1/4\] synthesise a, \d+ s: ", shown)  # the running steps' progress, at every poll here
    for folder, info in ((a, steps[2]), (b, steps[3])):
        assert len(list(folder.rglob("*.jpg"))) == 20
        assert f"root: {folder}" in info.stdout and "samples: 20 in 10 classes" in info.stdout
    assert all(s.seconds > 0 and not s.skipped for s in steps)
    assert (tmp_path / "logs" / "03-info-a.out").read_text() == steps[2].stdout


def test_a_failed_step_stops_what_waits_on_it_and_names_its_log(tmp_path):
    a, bad = tmp_path / "a", tmp_path / "bad"
    broken = Step("synthesise bad", ["data", "synth", "--kind", "nope", "--out", str(bad)], key="synth bad")
    steps = [broken, _synth(a), _info(bad)]
    with pytest.raises(RuntimeError, match=r"(?s)step 1 \(synthesise bad\) failed with exit code 2.*invalid choice: 'nope'"):
        run_parallel(steps, jobs=2, logs=tmp_path / "logs")
    assert steps[2].seconds == 0 and steps[2].stdout == ""  # never started
    assert not bad.exists()


def test_kept_steps_are_not_rerun_and_jobs_below_one_is_refused(tmp_path):
    a = tmp_path / "a"
    first = _synth(a)
    first.done_when = str(tmp_path / "marker")
    (tmp_path / "marker").write_text("")
    steps = [first, _info(a)]
    a.mkdir()  # an earlier run's output: the kept step's folder, here empty
    with pytest.raises(RuntimeError, match="describe a"):  # info ran (exit 2: no images), synth did not
        run_parallel(steps, jobs=2, logs=tmp_path / "logs", keep_done=True)
    assert first.skipped and not list(a.iterdir())
    from eo_tasks.config import ConfigError

    with pytest.raises(ConfigError, match="--jobs must be >= 1"):
        run_plan(DemoPlan(out=tmp_path / "plan", quick=True, steps=[_info(a)]), jobs=0)


def test_a_kept_step_quotes_the_wall_time_its_earlier_run_recorded(tmp_path):
    import json

    from hyperzoo.steps import STEP_TIMES, remember_times
    from hyperzoo.summary import wall_cell

    a, out = tmp_path / "a", tmp_path / "out"

    def plan(n: int = 20) -> DemoPlan:
        step = _synth(a)
        step.argv[-1], step.done_when = str(n), str(a)
        (tmp_path / "empty").mkdir(exist_ok=True)
        return DemoPlan(out=out, quick=True, steps=[step, _info(tmp_path / "empty")])  # the second fails

    first = plan()
    with pytest.raises(RuntimeError, match="describe empty"):
        run_plan(first)  # in process: the first step finishes, the second fails
    recorded = json.loads((out / STEP_TIMES).read_text())
    assert list(recorded) == [" ".join(first.steps[0].argv)]  # the failed step records nothing
    # a fast machine finishes the step in under 0.05 s, which the file rounds to 0.0
    assert recorded[" ".join(first.steps[0].argv)] == round(first.steps[0].seconds, 1)
    assert first.steps[0].seconds > 0

    again = plan()
    with pytest.raises(RuntimeError, match="describe empty"):
        run_plan(again, keep_done=True)
    kept = again.steps[0]
    assert kept.skipped and kept.earlier == recorded[" ".join(kept.argv)]
    assert wall_cell(kept) == f"{kept.earlier:.1f} s (earlier run)"
    changed = plan(n=21)  # another command: its kept output is not what the record timed
    assert changed.steps[0].keep(True, 1, 2)
    remember_times(changed)
    assert changed.steps[0].earlier is None and wall_cell(changed.steps[0]) == "kept from an earlier run"
    assert json.loads((out / STEP_TIMES).read_text()) == recorded
