"""The recommender's settings: the shipped file keeps every default; a deployment's file overrides."""
from ml import settings
from ml.families.recommender.config import RecommenderConfig, load


def test_the_shipped_file_keeps_the_defaults():
    assert load(settings.REPO_ROOT / "config" / "families" / "recommender.yaml") == RecommenderConfig()


def test_overrides_come_from_the_config_dir(tmp_path, monkeypatch):
    (tmp_path / "families").mkdir()
    (tmp_path / "families" / "recommender.yaml").write_text("top_n: 5\nhalf_life_days: 90\n")
    monkeypatch.setenv("VALUEFLOW_CONFIG_DIR", str(tmp_path))
    config = load()
    assert (config.top_n, config.half_life_days, config.seed) == (5, 90.0, RecommenderConfig().seed)
