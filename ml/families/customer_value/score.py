"""Scoring every customer with history into marts.user_value, with value tiers over the whole base."""
from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pyarrow as pa

from ml import catalog, marts
from ml.families.base import ModelRef
from ml.families.customer_value import pyfunc
from ml.families.customer_value.config import load
from ml.families.customer_value.features import ensure_features, select_features_sql
from ml.families.customer_value.tiers import apply_value_tiers, load_tiers, value_tier_thresholds
from ml.warehouse import Warehouse


def optional(scored: pd.DataFrame, column: str) -> np.ndarray:
    """A column a champion of an older release does not give: NULL for it rather than a failed run."""
    return scored[column].to_numpy(dtype=float) if column in scored.columns else np.full(len(scored), np.nan)


def next_order_dates(as_of: dt.date, scored: pd.DataFrame) -> pd.Series:
    """D + days_to_next_order, rounded to the day; NULL where no date is expected (typed DATE even
    when every row is NULL)."""
    days = pd.to_timedelta(np.round(optional(scored, "days_to_next_order")), unit="D")
    return pd.Series(pd.Timestamp(as_of) + days).astype(pd.ArrowDtype(pa.date32()))


def score(wh: Warehouse, as_of: dt.date, champion: ModelRef) -> int:
    """Score every customer with history into marts.user_value, value tiers over the whole base.

    Two passes over the features in chunks: the first only collects predicted values to fix the
    tier thresholds, the second writes the mart, so memory holds one float per customer, not rows.
    """
    config = load()
    ensure_features(wh, as_of)
    model = pyfunc.load_model(champion)
    tiers = load_tiers()
    select = select_features_sql(as_of, as_of)

    def batches():
        for batch in wh.query_batches(select, config.score_batch_rows):
            yield batch, pyfunc.predict_frame(model, batch)

    values = [scored["predicted_clv"].to_numpy() for _, scored in batches()]
    if not values:
        raise ValueError(f"no customer has history before {as_of}; nothing to score")
    thresholds = value_tier_thresholds(np.concatenate(values), tiers)

    def chunks():
        for batch, scored in batches():
            yield pd.DataFrame({
                "customer_id": batch["customer_id"].astype(str).to_numpy(),
                "expected_orders_90d": scored["expected_orders"].to_numpy(),
                "p_alive": scored["p_alive"].to_numpy(),
                "predicted_clv_365d": scored["predicted_clv"].to_numpy(),
                "value_tier": apply_value_tiers(scored["predicted_clv"].to_numpy(), tiers, thresholds),
                "historical_value": batch["historical_value"].astype(float).to_numpy(),
                "expected_next_order_date": next_order_dates(as_of, scored),
                **{c: optional(scored, c) for c in ("p_order_30d", "p_order_60d", "p_order_90d")},
                "predicted_clv_365d_low": optional(scored, "predicted_clv_low"),
                "predicted_clv_365d_high": optional(scored, "predicted_clv_high"),
            })

    return marts.write_mart(wh, catalog.USER_VALUE, chunks(), as_of, champion)
