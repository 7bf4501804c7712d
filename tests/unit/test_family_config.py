"""The family settings loader: YAML overrides on a frozen dataclass, checked field by field."""
from __future__ import annotations

from dataclasses import dataclass

import pytest

from ml.families.config import FamilyConfigError, load_config


@dataclass(frozen=True)
class Example:
    k: int = 3
    rate: float = 0.5
    name: str = "x"
    ks: tuple[int, ...] = (1, 2)
    cap: int | None = None


def test_no_file_gives_the_defaults(tmp_path):
    assert load_config("example", Example, tmp_path / "missing.yaml") == Example()


def test_overrides_are_applied_and_coerced(tmp_path):
    path = tmp_path / "example.yaml"
    path.write_text("k: 5\nrate: 1\nks: [4, 5]\ncap: 10\n")
    assert load_config("example", Example, path) == Example(k=5, rate=1.0, ks=(4, 5), cap=10)


@pytest.mark.parametrize("text, message", [
    ("kk: 5\n", "unknown setting"),
    ("k: five\n", "k: expected int"),
    ("k: true\n", "k: expected int"),
    ("ks: [1, x]\n", "ks: expected int"),
    ("- 1\n", "expected a mapping"),
])
def test_a_bad_file_names_the_file_and_the_key(tmp_path, text, message):
    path = tmp_path / "example.yaml"
    path.write_text(text)
    with pytest.raises(FamilyConfigError, match=message) as raised:
        load_config("example", Example, path)
    assert str(path) in str(raised.value)


def test_the_default_path_follows_the_config_dir(tmp_path, monkeypatch):
    (tmp_path / "families").mkdir()
    (tmp_path / "families" / "example.yaml").write_text("name: y\n")
    monkeypatch.setenv("VALUEFLOW_CONFIG_DIR", str(tmp_path))
    assert load_config("example", Example).name == "y"
