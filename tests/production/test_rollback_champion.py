"""`python -m ml rollback` against a real MLflow store (sqlite) and a DuckDB warehouse: the champion
alias moves back to the chosen version and the decision is recorded in ops.model_promotions."""
from __future__ import annotations

import pytest


def _register_versions(name: str, count: int) -> list[str]:
    """`count` versions of `name`, each from its own finished run (no model files needed)."""
    import mlflow
    from mlflow.tracking import MlflowClient

    from ml import tracking

    uri = tracking.configure()
    client = MlflowClient(uri)
    client.create_registered_model(name)
    versions = []
    for i in range(count):
        with mlflow.start_run(experiment_id=tracking.ensure_experiment(name), run_name=f"v{i + 1}") as run:
            mlflow.log_metric("silhouette", 0.3 + i / 100)
        version = client.create_model_version(name, f"{run.info.artifact_uri}/model", run_id=run.info.run_id)
        versions.append(str(version.version))
    return versions


def test_rollback_moves_the_champion_alias_back_and_records_it(warehouse, mlflow_store, capsys):
    from ml import registry
    from ml.__main__ import main

    v1, v2 = _register_versions("segmentation", 2)
    registry.set_alias(registry.get_version("segmentation", v2), registry.CHAMPION)
    warehouse.close()  # the command opens the warehouse file itself

    assert main(["rollback", "--model", "segmentation", "--version", v1, "--reason", "v2 reshuffled segments"]) == 0

    champion = registry.get_alias("segmentation", registry.CHAMPION)
    assert champion.version == v1
    assert "segmentation@champion now points at version 1" in capsys.readouterr().out
    from mlflow.tracking import MlflowClient

    tags = MlflowClient(mlflow_store).get_model_version("segmentation", v1).tags
    assert tags["valueflow.decision"] == "rolled_back_to"
    assert tags["valueflow.decision_reason"] == "v2 reshuffled segments"

    from ml.warehouse import connect

    with connect() as wh:
        rows = wh.query("SELECT model_name, challenger_version, champion_version, decision, reason, run_id "
                        "FROM ops.model_promotions")
    assert rows.to_dict("records") == [{
        "model_name": "segmentation", "challenger_version": v1, "champion_version": v2, "decision": "rollback",
        "reason": "v2 reshuffled segments", "run_id": champion.run_id}]


def test_rolling_back_to_a_missing_version_changes_nothing(warehouse, mlflow_store):
    from mlflow.exceptions import MlflowException

    from ml import promotion, registry

    _, v2 = _register_versions("segmentation", 2)
    registry.set_alias(registry.get_version("segmentation", v2), registry.CHAMPION)
    with pytest.raises(MlflowException):
        promotion.rollback_champion(warehouse, "segmentation", "9", "typo")
    assert registry.get_alias("segmentation", registry.CHAMPION).version == v2
    assert not warehouse.table_exists("ops.model_promotions")
