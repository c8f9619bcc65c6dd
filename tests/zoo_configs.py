"""Population configs of the small zoos the tests generate with Ray: CNNs of two 3x3 convs on
synthetic 16x16 EuroSAT RGB stand-ins (one CPU and one torch thread per task, the defaults)."""

from __future__ import annotations

from pathlib import Path


def small_cnn_zoo(*, images: int, hidden: int, epochs: int, batch_size: int, lr: float, population: str,
                  optimizer: str | None = None, extra: str = "", cache: Path | None = None,
                  channels: tuple[int, int] = (4, 4)) -> str:
    """TOML text; ``population`` is the ``[population...]`` table(s), ``extra`` more tables,
    ``cache`` the data cache folder (default: the user's)."""
    opt = f'optimizer = "{optimizer}"\n' if optimizer else ""
    cache_line = f'cache_dir = "{cache}"\n' if cache is not None else ""
    return f"""
[data]
kind = "eurosat-rgb"
synthetic_n = {images}
image_size = 16
{cache_line}
[model]
fusion = "single"
channels = [{channels[0]}, {channels[1]}]
kernel_sizes = [3, 3]
hidden = {hidden}

[train]
epochs = {epochs}
batch_size = {batch_size}
{opt}lr = {lr!r}

{extra.strip()}

{population.strip()}
"""


# Ten CNNs with two activations and a spread of learning rates: the zoo the hyperrep tests train on.
TEN_CNNS = small_cnn_zoo(images=200, hidden=8, epochs=3, batch_size=32, lr=0.003, population="""
[population.random]
n = 10
seed = 1
activation = {choice = ["relu", "tanh"]}
lr = {log_uniform = [1e-3, 1e-2]}
""")


def generate_ten_cnns(folder: Path) -> Path:
    """TEN_CNNS generated with Ray into ``folder``/zoo.h5 (all ten must finish)."""
    from zoo import generate

    (folder / "zoo.toml").write_text(TEN_CNNS)
    report = generate(folder / "zoo.toml", folder / "zoo.h5", max_workers=2, progress=None)
    assert report.status.get("done") == 10, report.status
    return folder / "zoo.h5"
