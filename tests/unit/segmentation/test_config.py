"""SegmentationConfig: the defaults the family always had, and overrides from config/families/."""
from __future__ import annotations

from ml.families.segmentation import config


def test_defaults_and_the_shipped_file_agree():
    defaults = config.SegmentationConfig()
    assert list(defaults.k_range) == [3, 4, 5, 6, 7, 8]
    assert config.load() == defaults  # config/families/segmentation.yaml overrides nothing


def test_an_override_file_in_the_config_dir_is_read(tmp_path, monkeypatch):
    (tmp_path / "families").mkdir()
    (tmp_path / "families" / "segmentation.yaml").write_text("k_max: 5\nholdout_share: 0.3\n")
    monkeypatch.setenv("VALUEFLOW_CONFIG_DIR", str(tmp_path))
    loaded = config.load()
    assert list(loaded.k_range) == [3, 4, 5] and loaded.holdout_share == 0.3
