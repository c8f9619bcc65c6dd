"""hyperzoo.eurosat.write_summary: OUT/summary.md over the zoos whose reports OUT holds."""

from __future__ import annotations

from pathlib import Path

from hyperzoo.eurosat import write_summary


def test_a_report_without_its_zoo_file_is_named_not_fatal(tmp_path: Path) -> None:
    report = tmp_path / "large" / "predict"
    report.mkdir(parents=True)
    (report / "results.csv").write_text("feature_set,predictor,property\n")
    path = write_summary(tmp_path, rerun="python scripts/eurosat_results.py --out X")
    text = path.read_text()
    assert path == tmp_path / "summary.md"
    assert "## The large zoo" in text and f"{tmp_path / 'large' / 'zoo.h5'} is missing" in text
    assert "## The 256 zoo" not in text  # no report there
    assert "Rerun with `python scripts/eurosat_results.py --out X`" in text


def test_the_summary_of_both_zoos_quotes_the_command_for_both(tmp_path: Path) -> None:
    """A run with --only writes OUT/summary.md over every zoo OUT holds; its rerun line must not
    name one zoo only."""
    text = write_summary(tmp_path, rerun="python scripts/eurosat_results.py --out X --only large --keep-done "
                                          "--zoo-large 'my zoo.h5'").read_text()
    assert "Rerun with `python scripts/eurosat_results.py --out X --keep-done --zoo-large 'my zoo.h5'`" in text
    assert "--only" not in text
