"""Model zoos: populations of eo_tasks models trained with Ray into one HDF5 file.

Reading: ``Zoo.open(path)`` reads a zoo (tables, weights, twins, its stored config and task
data) and ``Zoo.select`` chooses checkpoints split by model; ``ZooDataset`` serves them to
torch. Writing: ``generate`` makes a zoo from a population TOML (resumable, with Ray);
``ZooWriter`` is the one writer every producer uses, given a ``ZooPlan`` of the file's
models (``build_plan`` for a population, ``ZooPlan.from_models`` for models given
explicitly) and one ``ModelRecord`` per finished model. Bad files raise ``ZooFormatError``
subclasses. Format and module ownership: docs/zoo-format.md.

Names are imported on first use so that ``hyperzoo --help`` (which imports ``zoo.cli``)
does not pay for torch, h5py and Ray, and so that reading never imports the writer.
"""

from eo_tasks import lazy_exports

_EXPORTS = {
    # reading
    "Zoo": "zoo.reader",
    "Selection": "zoo.select",
    "split_models": "zoo.select",
    "resolve_epochs": "zoo.select",
    "parse_epoch_selection": "zoo.select",
    "read_split_file": "zoo.splitfile",
    "ZooDataset": "zoo.dataset",
    # configs
    "ZooSpec": "zoo.spec",
    "PopulationConfig": "zoo.spec",
    "SparsifyConfig": "zoo.spec",
    "load_spec": "zoo.spec",
    "spec_from_text": "zoo.spec",
    # writing
    "GenerateReport": "zoo.runner",
    "generate": "zoo.runner",
    "connect_ray": "zoo.localray",
    "RaySession": "zoo.localray",
    "ZooPlan": "zoo.plan",
    "PlannedModel": "zoo.plan",
    "build_plan": "zoo.plan",
    "ModelRecord": "zoo.record",
    "ZooWriter": "zoo.writer",
    "import_zoo": "zoo.importers",
    "snapshot": "zoo.recovery",
    # format and errors
    "FORMAT_VERSION": "zoo.format",
    "ZooFormatError": "zoo.format",
    "NotAZooError": "zoo.format",
    "TruncatedZooError": "zoo.format",
    "UnsupportedVersionError": "zoo.format",
    "ZooBusyError": "zoo.format",
    "AlreadyWrittenError": "zoo.format",
    "MultipleArchitecturesError": "zoo.format",
    "UnknownLayoutError": "zoo.format",
    # the command line: `hyperzoo zoo` and scripts/generate_zoo.py (main); a local Ray runtime
    "add_parser": "zoo.cli",
    "main": "zoo.cli",
    "init_local_ray": "zoo.runner",
}
__getattr__, __all__ = lazy_exports(__name__, _EXPORTS)
