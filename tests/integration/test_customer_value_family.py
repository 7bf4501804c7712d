"""customer_value end to end on a small generated shop: features -> train -> evaluate -> promote -> score."""
from __future__ import annotations

import numpy as np
import pytest

from ml import promotion, registry
from ml.data import merchandise_predicate
from ml.families import load_family
from ml.sql import sql_literal

pytestmark = pytest.mark.integration

TIER_ORDER = {"platinum": 0, "gold": 1, "silver": 2, "bronze": 3}


def test_customer_value_family_end_to_end(loaded_warehouse, small_shop_as_of, mlflow_store):
    from mlflow.tracking import MlflowClient

    wh, as_of = loaded_warehouse, small_shop_as_of
    family = load_family("customer_value")

    assert family.build_features(wh, as_of) == ["features.customer_value"]
    assert wh.scalar(f"SELECT COUNT(DISTINCT cutoff_date) FROM features.customer_value "
                     f"WHERE as_of_date = {sql_literal(as_of)}") == 5

    ref = family.train(wh, as_of)
    assert registry.get_alias("customer_value", registry.CHALLENGER) == ref
    run = MlflowClient(mlflow_store).get_run(ref.run_id)
    candidates = ("bgnbd", "gbm", "blend", "rate", "last_window", "bgnbd_gg")
    for kind in candidates:
        assert f"{kind}_mae_spend" in run.data.metrics
    # Each output comes from the candidate best on it over the holdout (the baselines included).
    params, metrics = run.data.params, run.data.metrics
    assert metrics[f"{params['spend_from']}_mae_spend"] == min(metrics[f"{k}_mae_spend"] for k in candidates)
    assert metrics[f"{params['orders_from']}_rmse_orders"] == min(metrics[f"{k}_rmse_orders"] for k in candidates)
    assert ref.kind == params["kind"] == run.data.tags[registry.KIND_TAG]
    artifacts = {a.path for a in MlflowClient(mlflow_store).list_artifacts(ref.run_id)}
    assert {"holdout_spend_deciles.png", "holdout_metrics.json"} <= artifacts

    decision = promotion.promote_challenger(wh, family, as_of, "pytest")
    assert decision.promote, decision.reason
    assert decision.reference == "baseline" and decision.challenger_value < decision.reference_value
    champion = registry.get_alias("customer_value", registry.CHAMPION)
    assert champion.version == ref.version

    # The same model judged against itself as champion: identical metrics, ranks agree perfectly.
    evaluation = family.evaluate(wh, as_of, ref, champion)
    assert evaluation.champion == evaluation.challenger
    assert evaluation.pairwise["spearman_clv_vs_champion"] > 0.999
    assert evaluation.challenger["mae_spend"] < evaluation.baseline["mae_spend"]

    rows = family.score(wh, as_of, champion)
    mart = wh.query("SELECT * FROM marts.user_value")
    with_history = wh.scalar(
        f"SELECT COUNT(DISTINCT customer_id) FROM raw.order_lines WHERE customer_id IS NOT NULL "
        f"AND invoice_ts < {sql_literal(as_of)} AND {merchandise_predicate()}")
    assert rows == len(mart) == with_history and mart["customer_id"].is_unique
    assert set(mart.columns) >= {"customer_id", "expected_orders_90d", "p_alive", "predicted_clv_365d", "value_tier",
                                 "historical_value", "as_of_date", "model_name", "model_version", "run_id", "model_kind", "scored_at"}
    assert (mart["model_version"] == ref.version).all() and (mart["run_id"] == ref.run_id).all()
    assert mart["p_alive"].between(0, 1).all() and (mart["predicted_clv_365d"] >= 0).all()
    # Tiers are monotone in predicted value and close to their configured shares.
    ordered = mart.sort_values("predicted_clv_365d", ascending=False)
    assert np.all(np.diff(ordered["value_tier"].map(TIER_ORDER).to_numpy()) >= 0)
    shares = mart["value_tier"].value_counts(normalize=True)
    assert abs(shares["platinum"] - 0.05) < 0.02 and abs(shares["gold"] - 0.15) < 0.03

    # Scoring again replaces the partition instead of appending.
    assert family.score(wh, as_of, champion) == rows and wh.row_count("marts.user_value") == rows

    # Audiences on top of the fresh mart (the other marts are absent here, which must be fine).
    from ml.audiences.build import build_marketing_audiences

    written = build_marketing_audiences(wh, as_of, "pytest")
    audiences = wh.query("SELECT * FROM marts.marketing_audiences")
    assert written == len(audiences) > 0 and audiences["customer_id"].is_unique
    assert set(audiences["customer_id"]) <= set(mart["customer_id"])
    assert {"loyal_top_value", "dormant_low_value"} <= set(audiences["audience"])
