"""`python -m ml evaluate` on a generated shop: the pipeline on the history before D, every mart scored after."""
from __future__ import annotations

import datetime as dt
import math
import os

import pandas as pd
import pytest

from ml import quality, quality_report
from ml.families import FAMILY_NAMES

pytestmark = pytest.mark.integration


def test_every_mart_is_scored_on_what_happened_after_d_beside_its_baselines(state_home, small_shop,
                                                                              small_shop_as_of, tmp_path):
    as_of = small_shop_as_of - dt.timedelta(days=91)  # the 90-day windows end inside the export
    report = quality.evaluate_source(small_shop, as_of, shop="generated", workspace=tmp_path / "ws")

    history = pd.read_csv(tmp_path / "ws" / "history.csv")
    assert pd.to_datetime(history["InvoiceDate"]).max() < pd.Timestamp(as_of)
    assert os.environ["VALUEFLOW_HOME"] == str(state_home)  # the workspace's environment is undone
    assert not (state_home / "warehouse.duckdb").exists()  # nothing was written into the caller's warehouse
    by_family = {f.family: f for f in report.families}
    assert list(by_family) == list(FAMILY_NAMES)
    measured = {o["metric"]: o for f in report.families for o in f.outcomes}
    for metric in ("roc_auc_30d", "lift_top_decile_30d", "orders_rmse_90d", "spend_mae_90d", "ndcg_at_10_30d",
                   "recall_at_10_30d", "wape_4w"):
        if metric in measured:
            outcome = measured[metric]
            assert outcome["n"] > 0 and not math.isnan(outcome["model"]), metric
            assert outcome["best_baseline"] is not None, metric
    assert {"roc_auc_30d", "ndcg_at_10_30d"} <= set(measured)  # the generated shop always gets these marts
    assert 0.5 < measured["roc_auc_30d"]["model"] <= 1.0
    for family in report.families:  # every family is measured or says why not
        assert family.outcomes or family.note or family.family == "segmentation", family.family
    page = quality_report.render({"shops": {"generated": report.as_dict()}})
    assert "| generated | propensity | roc_auc_30d |" in page
