"""customer_value when nothing learnt beats a simple baseline, and on a short history: a mart either way."""
from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest

from ml import promotion, registry
from ml.families import load_family
from ml.families.customer_value.features import table_cutoffs
from ml.sql import sql_literal

pytestmark = pytest.mark.integration


def clockwork_lines(as_of: dt.date, customers: int = 60) -> pd.DataFrame:
    """Every customer buys one 20.0 line every 10 days for two years: the last 90 days repeated
    (last_90d_repeat) is exactly right, so no learned model can be better on any window."""
    rows = []
    for c in range(customers):
        first = pd.Timestamp(as_of) - pd.Timedelta(days=730 - c % 10)
        for k, day in enumerate(pd.date_range(first, pd.Timestamp(as_of) - pd.Timedelta(days=1), freq="10D")):
            rows.append((f"i{c}-{k}", 1, "p1", "item", 1, 20.0, day + pd.Timedelta(hours=10), f"c{c}", "UK", False))
    return pd.DataFrame(rows, columns=["invoice_id", "line_no", "product_id", "description", "quantity", "unit_price",
                                       "invoice_ts", "customer_id", "country", "is_return"])


def test_a_shop_no_learned_model_beats_serves_the_best_baseline(warehouse, mlflow_store):
    as_of = dt.date(2024, 1, 1)
    warehouse.replace_table("raw.order_lines", clockwork_lines(as_of))
    family = load_family("customer_value")
    family.build_features(warehouse, as_of)
    family.train(warehouse, as_of)
    decision = promotion.promote_challenger(warehouse, family, as_of, "pytest")
    assert decision.promote and "last_90d_repeat serves" in decision.reason, decision.reason
    champion = registry.get_alias("customer_value", registry.CHAMPION)
    assert champion.kind == "baseline:last_90d_repeat"
    assert family.score(warehouse, as_of, champion) == 60
    mart = warehouse.query("SELECT * FROM marts.user_value")
    assert (mart["model_kind"] == "baseline:last_90d_repeat").all() and (mart["model_version"] == champion.version).all()
    # nine orders of 20.0 in every 90 days: what the baseline forecasts for everyone
    assert mart["expected_orders_90d"].round(9).eq(9.0).all()
    served = warehouse.query("SELECT decision, metrics FROM ops.model_promotions WHERE decision = 'baseline_served'")
    assert len(served) == 1 and '"baseline_name": "last_90d_repeat"' in served["metrics"].iat[0]


def test_a_four_month_history_trains_and_gets_a_mart(loaded_warehouse, small_shop_as_of, mlflow_store):
    wh, as_of = loaded_warehouse, small_shop_as_of
    wh.execute(f"DELETE FROM raw.order_lines WHERE invoice_ts < {sql_literal(as_of - dt.timedelta(days=120))}")
    family = load_family("customer_value")
    family.build_features(wh, as_of)
    dates = table_cutoffs(wh, as_of)
    step = (dates[-1] - dates[-2]).days
    assert 30 <= step < 90 and all((b - a).days == step for a, b in zip(dates, dates[1:]))
    family.train(wh, as_of)
    promotion.promote_challenger(wh, family, as_of, "pytest")  # a learned mix or the best baseline
    champion = registry.get_alias("customer_value", registry.CHAMPION)
    assert champion is not None
    assert family.score(wh, as_of, champion) > 0
    mart = wh.query("SELECT * FROM marts.user_value")
    assert mart["expected_orders_90d"].notna().all() and (mart["predicted_clv_365d"] >= 0).all()
    holdout = wh.scalar("SELECT holdout FROM ops.model_promotions ORDER BY decided_at LIMIT 1")
    assert f"judged pro rata over {step} days" in holdout
