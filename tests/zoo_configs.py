"""Population configs of the small zoos the tests generate with Ray: two-conv CNNs on
synthetic 16x16 EuroSAT RGB stand-ins, one CPU and one torch thread per task."""

from __future__ import annotations


def small_cnn_zoo(*, images: int, hidden: int, epochs: int, batch_size: int, lr: float, population: str,
                  optimizer: str | None = None, extra: str = "") -> str:
    """TOML text; ``population`` is the ``[population...]`` table(s), ``extra`` more tables."""
    opt = f'optimizer = "{optimizer}"\n' if optimizer else ""
    return f"""
[data]
kind = "eurosat-rgb"
synthetic_n = {images}
image_size = 16

[model]
fusion = "single"
channels = [4, 4]
kernel_sizes = [3, 3]
hidden = {hidden}

[train]
epochs = {epochs}
batch_size = {batch_size}
{opt}lr = {lr!r}

{population.strip()}

{extra.strip()}

[resources]
cpus_per_task = 1
threads_per_task = 1
"""
