"""Importing the public model zoos into this project's zoo format (docs/zoo-format.md).

``import_zoo("unterthiner" | "modelzoos", SRC, OUT)`` reads a public zoo in its published
layout (:mod:`zoo.importers.unterthiner`, :mod:`zoo.importers.modelzoos`) and writes it,
atomically, as one zoo file: weights in the layout of an ``eo_tasks`` ConvNet spec (so
``Zoo.load_model`` rebuilds the source network), metrics, hyperparameters as table columns
(the source's own ones copied verbatim as extra columns) and the root attribute
``imported``. Its ``[data]`` names the task's public dataset and the paper's preprocessing
(``eo_tasks.data.public``) without a folder: ``Zoo.task_data(root=FOLDER)`` reads the standard
files there; without one (or for a dataset no reader serves) it raises DataError saying so.
"""

from __future__ import annotations

from pathlib import Path

FORMATS = ("unterthiner", "modelzoos")


def import_zoo(fmt: str, src: str | Path, out: str | Path, *, overwrite: bool = False, limit: int | None = None,
               dataset: str | None = None) -> Path:
    """Convert the public zoo at ``src`` (format ``fmt``) into the zoo file ``out``."""
    from eo_tasks import ConfigError
    from zoo.importers.common import write_imported

    if fmt == "unterthiner":
        from zoo.importers.unterthiner import read_unterthiner

        models, task, keep, notes = read_unterthiner(src, limit=limit)
    elif fmt == "modelzoos":
        from zoo.importers.modelzoos import read_modelzoos

        models, task, keep, notes = read_modelzoos(src, dataset=dataset, limit=limit)
    else:
        raise ConfigError(f"unknown import format {fmt!r}; expected one of {FORMATS}")
    return write_imported(out, models, task, keep, fmt, str(Path(src).resolve()), overwrite=overwrite,
                          notes={"notes": notes} if notes else None)
