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


def test_the_associations_section_overrides_its_own_settings(tmp_path, monkeypatch):
    import pytest

    from ml.families.config import FamilyConfigError

    (tmp_path / "families").mkdir()
    path = tmp_path / "families" / "recommender.yaml"
    path.write_text("associations:\n  min_lift: 2\n  max_products: 500\n")
    monkeypatch.setenv("VALUEFLOW_CONFIG_DIR", str(tmp_path))
    rules = load().associations
    assert (rules.min_lift, rules.max_products, rules.min_support) == (2.0, 500, RecommenderConfig().associations.min_support)
    path.write_text("associations:\n  min_lifts: 2\n")
    with pytest.raises(FamilyConfigError, match="associations.*unknown setting"):
        load()
    path.write_text("associations: 3\n")
    with pytest.raises(FamilyConfigError, match="associations: expected a mapping"):
        load()
