"""A zoo resumes only when its config hash matches: keys added to a config later must leave
the hash of every config that does not use them as it was, or no older zoo would resume."""

from pathlib import Path

from zoo import spec_from_text

ROOT = Path(__file__).resolve().parents[1]


def test_later_keys_at_their_defaults_leave_older_hashes_alone() -> None:
    text = (ROOT / "configs" / "zoos" / "tiny.toml").read_text()
    # the hash this config had before the public datasets' [data] keys existed (2026-12-04 code)
    assert spec_from_text(text).config_hash == "821620b7ae8cb1e09a1579ebf1ca361697fa4223bf9e97e37836228402149833"
    assert not {"recipe", "channels", "val_fraction"} & set(spec_from_text(text).normalised()["data"])
    # a key set away from its default is part of what the zoo is
    changed = text.replace('kind = "eurosat-rgb"', 'kind = "eurosat-rgb"\nval_fraction = 0.2')
    assert spec_from_text(changed).config_hash != spec_from_text(text).config_hash
