"""The HDF5 zoo without training: layout of the file, writer/reader round trip, SWMR,
recovery of a file whose writer was killed, and the by-model dataset splits."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import h5py
import numpy as np
import pytest
import torch

from eo_tasks.config import ConfigError
from eo_tasks.data.types import ModalityInfo, TaskInfo
from zoo import (FORMAT_VERSION, ModelRecord, Zoo, ZooBusyError, ZooDataset, ZooWriter, build_plan, snapshot,
                 split_models)
from zoo.create import create
from zoo.format import TABLE_COLUMNS
from zoo.spec import spec_from_text

TASK = TaskInfo("eurosat-rgb", tuple("abcd"), False, (ModalityInfo("rgb", "image", 3, ("B04", "B03", "B02"),
                                                                    (0.1, 0.2, 0.3), (1.0, 1.1, 1.2)),), 8, "test", True)
CONFIG = """
[data]
kind = "eurosat-rgb"
image_size = 8
[model]
channels = [2, 2]
kernel_sizes = [3, 3]
hidden = 4
[train]
epochs = 3
[population]
keep_epochs = [0, 1, 3]
[population.grid]
seed = [0, 1, 2, 3, 4, 5]
hidden_is_not_varied = []
"""


def _plan(extra: str = "", grid: str = "seed = [0, 1, 2, 3, 4, 5]"):
    text = CONFIG.replace("hidden_is_not_varied = []\n", "").replace("seed = [0, 1, 2, 3, 4, 5]", grid) + extra
    spec = spec_from_text(text)
    return build_plan(spec, TASK, train_len=100)


def _result(plan, i: int, status: str = "done", epochs=None, scale: float = 1.0) -> ModelRecord:
    p = plan.layouts[plan.arch_index[i]].num_params
    epochs = list(plan.spec.keep_epochs) if epochs is None else epochs
    rng = np.random.default_rng(i)
    w = (rng.standard_normal((len(epochs), p)) * scale).astype(np.float32)
    metrics = {"epoch": np.array(epochs, float), "test_acc": np.linspace(0.25, 0.5 + i / 100, len(epochs)),
               "train_acc": np.full(len(epochs), 0.6), "val_acc": np.full(len(epochs), 0.4),
               "train_loss": np.ones(len(epochs)), "val_loss": np.ones(len(epochs)), "test_loss": np.ones(len(epochs)),
               "gap": np.full(len(epochs), 0.1), "unknown_metric": np.zeros(len(epochs))}
    r = ModelRecord(index=i, status=status, error="" if status == "done" else f"boom {i} ü", wall_time=1.5 + i,
                     epochs=epochs, weights=w, metrics=metrics, train_size=100, node="host:1")
    ratios = plan.spec.sparsify.ratios
    if ratios and status == "done":
        r.twin_weights = np.stack([w[-1] * (np.abs(w[-1]) > k) for k in ratios]).astype(np.float32)
        r.twin_metrics = {"epoch": np.ones(len(ratios)), "test_acc": np.array(ratios) / 2,
                          "sparsity": np.array(ratios)}
    return r


def test_file_layout_and_round_trip(tmp_path: Path) -> None:
    plan = _plan("[sparsify]\nratios = [0.5, 0.9]\n")
    path = tmp_path / "z.h5"
    create(path, plan)
    with ZooWriter(path, plan) as w:
        assert w.pending == list(range(6)) and w.run == 1
        for i in range(4):
            w.write(_result(plan, i))
        w.write(_result(plan, 4, status="diverged", epochs=[0, 1]))
        with pytest.raises(RuntimeError, match="twice"):
            w.write(_result(plan, 0))
    p, c = plan.max_params, 3
    with h5py.File(path, "r") as f:
        assert f.attrs["format"] == "hyperzoo.zoo" and f.attrs["format_version"] == FORMAT_VERSION
        assert f["weights"].shape == (6, c, p) and f["weights"].dtype == np.float32
        assert f["weights"].chunks == (1, 1, p) and f["weights"].compression == "gzip"
        assert f["epochs"][:].tolist() == [0, 1, 3]
        assert f["metrics/test_acc"].shape == (6, c)
        assert f["twins/weights"].shape == (6, 2, p) and f["twins/ratios"][:].tolist() == [0.5, 0.9]
        assert json.loads(f.attrs["task"])["modalities"][0]["bands"] == ["B04", "B03", "B02"]
        prov = json.loads(f.attrs["provenance"])
        assert {"hyperzoo", "git_revision", "torch", "ray", "h5py", "created"} <= set(prov)
        assert "[population" in f.attrs["config_text"]
        assert "unknown_metric" not in f["metrics"]
        # no pickle or opaque blobs anywhere: only numbers and strings
        kinds = set()
        f.visititems(lambda name, obj: kinds.add(obj.dtype.kind) if isinstance(obj, h5py.Dataset) else None)
        assert kinds <= {"f", "i", "u", "S", "O"}
        f.visititems(lambda name, obj: isinstance(obj, h5py.Dataset) and obj.dtype.kind == "O"
                     and _assert_vlen_str(obj))
    with Zoo.open(path) as zoo:
        t = zoo.table
        assert t["status"].tolist() == ["done"] * 4 + ["diverged", "pending"]
        assert t.loc[4, "error"] == "boom 4 ü" and t.loc[0, "error"] == ""
        assert t["seed"].tolist() == list(range(6)) and (t["run"][:5] == 1).all() and t.loc[5, "run"] == 0
        assert np.isnan(t.loc[5, "wall_time"]) and t.loc[2, "wall_time"] == 3.5
        assert tuple(t.columns) == TABLE_COLUMNS
        m = zoo.metrics
        assert len(m) == 4 * 3 + 2  # diverged model: two stored checkpoints
        assert m[m.model == 4]["epoch"].tolist() == [0, 1]
        expected = _result(plan, 2)
        np.testing.assert_array_equal(zoo.weights(2, 1), expected.weights[1])
        np.testing.assert_array_equal(zoo.weights(2), expected.weights[-1])
        np.testing.assert_array_equal(zoo.weights(4), _result(plan, 4, epochs=[0, 1]).weights[-1])
        with pytest.raises(KeyError, match="epoch 3"):
            zoo.weights(4, 3)
        with pytest.raises(KeyError, match="not a kept checkpoint"):
            zoo.weights(0, 2)
        with pytest.raises(KeyError, match="no stored checkpoint"):
            zoo.weights(5)
        row = m[(m.model == 2) & (m.epoch == 3)].iloc[0]
        assert row["weight_max_abs"] == pytest.approx(np.abs(expected.weights[-1]).max())
        assert row["weight_l2"] == pytest.approx(np.linalg.norm(expected.weights[-1].astype(np.float64)))
        assert zoo.layout.num_params == p and zoo.task == TASK
        np.testing.assert_array_equal(zoo.twin_weights(1, 0.9), _result(plan, 1).twin_weights[1])
        tm = zoo.twin_metrics
        assert len(tm) == 4 * 2 and set(tm["ratio"]) == {0.5, 0.9}
        net = zoo.load_model(3, 1)
        np.testing.assert_array_equal(net.layout.flatten(net.state_dict()), _result(plan, 3).weights[1])


def _assert_vlen_str(ds: h5py.Dataset) -> None:
    assert h5py.check_string_dtype(ds.dtype) is not None, ds.name


def test_resume_identity_and_layout_checks(tmp_path: Path) -> None:
    plan = _plan()
    path = tmp_path / "z.h5"
    create(path, plan)
    with ZooWriter(path, plan) as w:
        w.write(_result(plan, 1))
    with ZooWriter(path, plan) as w:
        assert w.pending == [0, 2, 3, 4, 5] and w.run == 2
    other = _plan(grid="seed = [0, 1, 2, 3, 4, 6]")
    with pytest.raises(ConfigError, match="different config"):
        ZooWriter(path, other)
    with Zoo.open(path) as zoo:
        assert [r["todo"] for r in zoo.runs] == [6, 5]


def test_several_architectures(tmp_path: Path) -> None:
    spec_text = CONFIG.replace("hidden_is_not_varied = []\n", "").replace("seed = [0, 1, 2, 3, 4, 5]", "seed = [0, 1]")
    task = TaskInfo("benge", ("a", "b"), False, (ModalityInfo("s2", "image", 4), ModalityInfo("s1", "image", 2)), 8)
    plan = build_plan(spec_from_text(spec_text + 'fusion = ["early", "late"]\n'), task, 50)
    assert len(plan.layouts) == 2 and plan.arch_index == (0, 1, 0, 1)
    path = tmp_path / "z.h5"
    create(path, plan)
    with ZooWriter(path, plan) as w:
        for i in range(4):
            w.write(_result(plan, i))
    with Zoo.open(path) as zoo:
        with pytest.raises(ValueError, match="2 architectures"):
            _ = zoo.layout
        assert zoo.layout_of(1).num_params == plan.layouts[1].num_params != zoo.layout_of(0).num_params
        assert zoo.weights(0).shape == (plan.layouts[0].num_params,)
        assert zoo.load_model(1).spec.arch.fusion == "late"
    with pytest.raises(ValueError, match="architectures"):
        ZooDataset(path)
    ds = ZooDataset(path, split="all", arch=1)
    assert len(ds) == 2 * 3 and ds[0]["weights"].shape == (plan.layouts[1].num_params,)


def test_bad_member_architecture_is_named() -> None:
    # early_blowup needs a vector modality to blow up; the task has only images
    spec = spec_from_text(CONFIG.replace("hidden_is_not_varied = []\n", "") + 'fusion = ["early_blowup", "late"]\n')
    task = TaskInfo("benge", ("a", "b"), False, (ModalityInfo("s2", "image", 4), ModalityInfo("s1", "image", 2)), 8)
    with pytest.raises(ConfigError, match=r"population member 0 \(seed=0, fusion='early_blowup'\).*data.modalities"):
        build_plan(spec, task, 50)


def test_dataset_splits_by_model_and_filters(tmp_path: Path) -> None:
    plan = _plan(grid="seed = " + str(list(range(20))))
    path = tmp_path / "z.h5"
    create(path, plan)
    with ZooWriter(path, plan) as w:
        for i in range(20):
            if i == 3:
                w.write(_result(plan, i, status="failed", epochs=[0]))
            elif i == 7:
                w.write(_result(plan, i, scale=1e4))  # huge weights: dropped by the bound
            else:
                w.write(_result(plan, i))
    parts = {s: ZooDataset(path, s, seed=1) for s in ("train", "val", "test")}
    models = {s: set(d.models.tolist()) for s, d in parts.items()}
    assert models["train"].isdisjoint(models["val"]) and models["train"].isdisjoint(models["test"])
    assert models["val"].isdisjoint(models["test"])
    assert set().union(*models.values()) == set(range(20)) - {3}
    assert [len(models[s]) for s in ("train", "val", "test")] == [13, 3, 3]
    for s, d in parts.items():  # every item's model belongs to its split: checkpoints never cross
        assert {int(d.index[k, 0]) for k in range(len(d))} <= models[s]
    assert 7 not in {int(m) for m, _ in np.concatenate([d.index for d in parts.values()])}
    assert ZooDataset(path, "train", seed=2).models.tolist() != parts["train"].models.tolist()
    assert ZooDataset(path, "train", seed=1).models.tolist() == parts["train"].models.tolist()
    d = ZooDataset(path, "all", epochs=[3], max_abs=None, properties=("test_acc", "lr", "epoch"))
    assert len(d) == 19 and set(d.epochs.tolist()) == {3}  # the failed model is not "done"
    item = d[5]
    m = item["model"]
    assert item["weights"].dtype == torch.float32
    np.testing.assert_array_equal(item["weights"].numpy(), _result(plan, m, scale=1e4 if m == 7 else 1).weights[-1])
    assert item["properties"].tolist() == pytest.approx([0.5 + m / 100, 1e-3, 3.0])
    loader = torch.utils.data.DataLoader(d, batch_size=4, num_workers=2, shuffle=True)
    batch = next(iter(loader))
    assert batch["weights"].shape == (4, plan.max_params) and batch["properties"].shape == (4, 3)
    assert len(ZooDataset(path, "all", status=("done", "failed"), max_abs=None)) == 19 * 3 + 1
    with pytest.raises(ValueError, match="unknown property"):
        ZooDataset(path, properties=("nope",))
    with pytest.raises(ValueError, match="not kept"):
        ZooDataset(path, epochs=[2])
    split = split_models(np.arange(10), (0.7, 0.15, 0.15), 0)
    assert sorted(np.concatenate(list(split.values())).tolist()) == list(range(10))


WRITER = textwrap.dedent("""
    import sys, time
    sys.path.insert(0, {tests!r})
    from test_zoo_store import _plan, _result
    from zoo import ZooWriter
    plan = _plan()
    with ZooWriter({path!r}, plan) as w:
        for i in range(6):
            w.write(_result(plan, i))
            print(i, flush=True)
            if i == 2:
                time.sleep(60)
""")


def test_swmr_reader_follows_and_killed_writer_recovers(tmp_path: Path) -> None:
    plan = _plan()
    path = tmp_path / "z.h5"
    create(path, plan)
    script = WRITER.format(tests=str(Path(__file__).parent), path=str(path))
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        seen = []
        with Zoo.open(path) as zoo:  # opened while the writer holds the file
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline and len(seen) < 3:
                zoo.refresh()
                seen = zoo.table.index[zoo.table.status == "done"].tolist()
                time.sleep(0.05)
            assert seen == [0, 1, 2]
            np.testing.assert_array_equal(zoo.weights(1), _result(plan, 1).weights[-1])
        # a snapshot taken while the writer holds the file fixes what was finished
        snap = snapshot(path, tmp_path / "snap.h5")
        with Zoo.open(snap) as zoo:
            assert zoo.table.index[zoo.table.status == "done"].tolist() == [0, 1, 2]
            np.testing.assert_array_equal(zoo.weights(2), _result(plan, 2).weights[-1])
        with pytest.raises(FileExistsError, match="snap.h5"):
            snapshot(path, snap)
        with pytest.raises(ValueError, match="another file"):
            snapshot(path, path)
        with pytest.raises(ZooBusyError, match="another process is writing"):  # one writer at a time
            ZooWriter(path, plan)
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.kill()
        proc.wait()
    with pytest.raises(OSError):  # HDF5 refuses a normal open after a killed SWMR writer ...
        h5py.File(path, "r")
    with ZooWriter(path, plan) as w:  # ... the writer recovers the flushed state
        assert w.pending == [3, 4, 5]
        for i in w.pending:
            w.write(_result(plan, i))
    with h5py.File(path, "r") as f:  # and the file is an ordinary, valid HDF5 file again
        assert (f["models/status"][:] == 1).all()
        assert f["models/run"][:].tolist() == [1, 1, 1, 2, 2, 2]
    with Zoo.open(path) as zoo:
        for i in range(6):
            np.testing.assert_array_equal(zoo.weights(i), _result(plan, i).weights[-1])


READ_WITHOUT_FCNTL = textwrap.dedent("""
    import sys
    sys.modules["fcntl"] = None  # as on a platform without it: importing it fails
    from zoo import Zoo, ZooDataset
    with Zoo.open({path!r}) as zoo:
        print(zoo.table["status"].tolist().count("done"), zoo.weights(1).shape[0], len(zoo.select().checkpoints))
    print(len(ZooDataset({path!r}, "all")))
    print("fcntl" in sys.modules and sys.modules["fcntl"] is not None)
""")


def test_reading_needs_no_fcntl(tmp_path: Path) -> None:
    """Only the writer lock imports fcntl, and only writers import it."""
    plan = _plan()
    path = tmp_path / "z.h5"
    with ZooWriter(path, plan, "x") as w:
        for i in range(3):
            w.write(_result(plan, i))
    run = subprocess.run([sys.executable, "-c", READ_WITHOUT_FCNTL.format(path=str(path))], capture_output=True,
                         text=True, timeout=120)
    assert run.returncode == 0, run.stderr[-3000:]
    assert run.stdout.split() == ["3", str(plan.max_params), "9", "9", "False"]


def test_writer_modes_and_a_plan_of_explicit_models(tmp_path: Path) -> None:
    """ZooWriter is the one way to write a zoo: "x"/"w"/"a" like h5py, and a plan of models given
    explicitly may carry extra model-table columns and root attributes, written at creation."""
    from zoo import AlreadyWrittenError, PlannedModel, ZooPlan

    base = _plan()
    models = [PlannedModel(f"s{i}", base.models[0].spec, base.models[0].train, 7, (("method", "kde"),))
              for i in range(3)]
    plan = ZooPlan.from_models(base.spec, TASK, models, columns={"method": ["kde"] * 3, "draw": np.arange(3)},
                               attrs={"sampled": json.dumps({"n": 3})}, provenance={"kind": "sampled"})
    path = tmp_path / "s.h5"
    with ZooWriter(path, plan, "x", run_info={"sampled": True}) as w:
        assert w.pending == [0, 1, 2]
        w.write(_result(plan, 0))
        with pytest.raises(AlreadyWrittenError, match="twice"):
            w.write(_result(plan, 0))
    with pytest.raises(FileExistsError):
        ZooWriter(path, plan, "x")
    with ZooWriter(path, plan) as w:  # "a": continue
        assert w.pending == [1, 2] and w.run == 2
    with Zoo.open(path) as zoo:
        t = zoo.table
        assert t["name"].tolist() == ["s0", "s1", "s2"] and (t["train_size"] == 7).all()
        assert t["method"].tolist() == ["kde"] * 3 and t["draw"].tolist() == [0, 1, 2]
        assert json.loads(zoo.file.attrs["sampled"]) == {"n": 3}
        assert zoo.provenance["kind"] == "sampled" and "torch" in zoo.provenance
        assert [r.get("sampled") for r in zoo.runs] == [True, None]
    with ZooWriter(path, plan, "w") as w:  # "w": a new file in its place
        assert w.pending == [0, 1, 2] and w.run == 1
    with pytest.raises(ValueError, match="extra column 'status'"):
        ZooPlan.from_models(base.spec, TASK, models, columns={"status": ["x"] * 3})
    with pytest.raises(ValueError, match="extra attribute 'runs'"):
        ZooPlan.from_models(base.spec, TASK, models, attrs={"runs": "[]"})


def test_bad_files_raise_typed_errors(tmp_path: Path) -> None:
    from zoo import NotAZooError, TruncatedZooError, ZooFormatError

    plan = _plan()
    path = tmp_path / "z.h5"
    with ZooWriter(path, plan) as w:
        w.write(_result(plan, 0))
    data = path.read_bytes()
    cut = tmp_path / "cut.h5"
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(TruncatedZooError, match="cut.h5"):
        Zoo.open(cut)
    text = tmp_path / "text.h5"
    text.write_text("not hdf5 at all")
    foreign = tmp_path / "foreign.h5"
    with h5py.File(foreign, "w") as f:
        f["x"] = np.arange(3)
    for bad in (text, foreign):
        with pytest.raises(NotAZooError, match=bad.name):
            Zoo.open(bad)
    assert issubclass(TruncatedZooError, ZooFormatError) and issubclass(ZooFormatError, ValueError)
    with pytest.raises(NotAZooError, match="text.h5"):  # the writer refuses what is no zoo
        ZooWriter(text, plan)


def test_reader_answers_what_consumers_ask(tmp_path: Path) -> None:
    """Selections split by model, the architecture of a layout, the twins' settings, the stored config."""
    from zoo import MultipleArchitecturesError, UnknownLayoutError

    spec_text = CONFIG.replace("hidden_is_not_varied = []\n", "").replace("seed = [0, 1, 2, 3, 4, 5]",
                                                                          "seed = [0, 1, 2, 3]")
    task = TaskInfo("benge", ("a", "b"), False, (ModalityInfo("s2", "image", 4), ModalityInfo("s1", "image", 2)), 8)
    plan = build_plan(spec_from_text(spec_text + 'fusion = ["early", "late"]\n[sparsify]\nratios = [0.5]\n'
                                     'scope = "layer"\n'), task, 50)
    path = tmp_path / "z.h5"
    with ZooWriter(path, plan) as w:
        for i in range(8):
            w.write(_result(plan, i, scale=1e4 if i == 2 else 1.0))
    with Zoo.open(path) as zoo:
        with pytest.raises(MultipleArchitecturesError):
            zoo.select()
        with pytest.raises(MultipleArchitecturesError):
            _ = zoo.layout
        assert [zoo.arch_of(layout) for layout in plan.layouts] == [0, 1]
        other = build_plan(spec_from_text(spec_text), TASK, 50).layouts[0]
        with pytest.raises(UnknownLayoutError, match="z.h5"):
            zoo.arch_of(other)
        chosen = zoo.select(arch=0, epochs=[3], seed=1)
        assert chosen.arch == 0 and chosen.models.tolist() == [0, 2, 4, 6]
        assert sorted(np.concatenate(list(chosen.splits.values())).tolist()) == [0, 2, 4, 6]
        assert chosen.checkpoints["model"].tolist() == [0, 4, 6]  # model 2's weights exceed max_abs
        assert set(chosen.checkpoints["epoch"]) == {3}
        assert [chosen.split_of(m) for m in chosen.checkpoints["model"]] == chosen.checkpoints["split"].tolist()
        assert zoo.select(arch=0, seed=1, max_abs=None).splits["test"].tolist() == chosen.splits["test"].tolist()
        ds = ZooDataset(path, "all", arch=0, epochs=[3], seed=1)
        assert ds.index[:, 0].tolist() == [0, 4, 6]
        w = zoo.weights_many([0, 4], [3, 1])
        np.testing.assert_array_equal(w[1], _result(plan, 4).weights[1])
        assert zoo.twin_config.ratios == (0.5,) and zoo.twin_config.scope == "layer"
        assert zoo.twin_config.finetune_epochs == 1
        assert zoo.config == plan.spec and zoo.config.config_hash == plan.spec.config_hash


def test_a_snapshot_of_the_first_models_is_the_same_whenever_it_is_taken(tmp_path: Path) -> None:
    plan = _plan()
    path = tmp_path / "z.h5"
    with ZooWriter(path, plan, "x") as w:
        for i in (0, 1, 3):  # model 2 still pending
            w.write(_result(plan, i))
    with pytest.raises(ValueError, match=r"z\.h5: 1 of its first 3 models have not finished yet \(the first is model 2\)"):
        snapshot(path, tmp_path / "early.h5", first=3)
    assert not list(tmp_path.glob("early.h5*"))  # refused before anything was written
    with pytest.raises(ValueError, match=r"first \(--first\) must be between 1 and its 6 models, got 7"):
        snapshot(path, tmp_path / "early.h5", first=7)
    with ZooWriter(path, plan) as w:
        w.write(_result(plan, 2))
        w.write(_result(plan, 4))
    snaps = [snapshot(path, tmp_path / "now.h5", first=3)]
    with ZooWriter(path, plan) as w:
        w.write(_result(plan, 5))
    snaps.append(snapshot(path, tmp_path / "later.h5", first=3))
    tables, splits = [], []
    for snap in snaps:
        with Zoo.open(snap) as zoo:
            t = zoo.table
            assert t.index[t.status == "done"].tolist() == [0, 1, 2]
            assert t.loc[3:, "run"].tolist() == [0, 0, 0] and t.loc[3:, "node"].tolist() == ["", "", ""]
            assert np.isnan(t.loc[3:, "wall_time"]).all()
            np.testing.assert_array_equal(zoo.weights(2), _result(plan, 2).weights[-1])
            with pytest.raises(KeyError, match="model 3 has no stored checkpoint"):  # its row was not copied
                zoo.weights(3)
            tables.append(t.drop(columns=["finished_at", "run"]).loc[:2])
            done = np.flatnonzero(t.status == "done")
            splits.append({k: v.tolist() for k, v in split_models(done, (0.4, 0.3, 0.3), seed=0).items()})
    assert tables[0].equals(tables[1]) and splits[0] == splits[1]
