"""Scoring every customer with history into marts.user_value, with value tiers over the whole base."""
from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd

from ml import catalog, marts
from ml.families.base import ModelRef
from ml.families.customer_value import pyfunc
from ml.families.customer_value.config import load
from ml.families.customer_value.features import ensure_features, select_features_sql
from ml.families.customer_value.tiers import apply_value_tiers, load_tiers, value_tier_thresholds
from ml.warehouse import Warehouse


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
            })

    return marts.write_mart(wh, catalog.USER_VALUE, chunks(), as_of, champion)
