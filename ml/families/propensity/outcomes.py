"""marts.user_propensity for D against who really bought in [D, D + 30 days), beside the simple baselines.

Population: the customers of the mart's partition for D. Label: at least one order (a distinct
non-return invoice, `ml.outcomes.realized_customers`) in [D, D + 30), so a customer who bought
twice counts once and a return alone is no purchase. The model's score is `p_purchase_30d`; every
baseline is a ranking score on the same customers, from the order lines before D only:

* `recency`: minus the days from the last order before D to D;
* `frequency`: orders before D;
* `bgnbd_p_alive`, `bgnbd_expected_orders_30d`: the customer-value family's BG/NBD fitted on the
  same history in days with its configured penalizer (`customer_value.baselines.bgnbd_forecast`);
  NaN when that history cannot be fitted.

Customers without a purchase in the history rank last for every baseline.
"""
from __future__ import annotations

import datetime as dt
import math

import numpy as np
import pandas as pd

from ml import catalog
from ml.data import read_order_lines
from ml.families.customer_value.baselines import bgnbd_forecast, history_by_customer, uncovered_note
from ml.families.propensity.config import NAME
from ml.families.propensity.labels import HORIZON_DAYS
from ml.families.propensity.metrics import auc_standard_error, calibration_table, score_ranking
from ml.outcomes import Outcome, mart_partition, realized_customers, window_covered, window_end
from ml.warehouse import Warehouse

SCORE_COLUMN = f"p_purchase_{HORIZON_DAYS}d"
METRICS = {"roc_auc": f"roc_auc_{HORIZON_DAYS}d", "lift_top_decile": f"lift_top_decile_{HORIZON_DAYS}d"}
BASELINES = ("recency", "frequency", "bgnbd_p_alive", f"bgnbd_expected_orders_{HORIZON_DAYS}d")


def bought_in_window(truth: Warehouse, as_of: dt.date, customers: pd.Index, horizon_days: int) -> np.ndarray:
    """1 for each customer with an order in [D, D + horizon), else 0, in the order of `customers`."""
    realized = realized_customers(truth, as_of, window_end(as_of, horizon_days)).set_index("customer_id")
    return (realized["orders"].reindex(customers, fill_value=0.0) > 0).astype(int).to_numpy()


def baseline_scores(wh: Warehouse, as_of: dt.date, customers: pd.Index) -> dict[str, np.ndarray | None]:
    """Each baseline's ranking score per customer (None where it cannot be computed)."""
    lines = read_order_lines(wh, before=as_of, customers_only=True)
    history = history_by_customer(lines, as_of).reindex(customers)
    recency = history["recency_days"].to_numpy()
    # no purchase before D ranks below the stalest buyer
    recency = np.where(np.isnan(recency), np.nanmax(recency, initial=0.0) + 1.0, recency)
    scores: dict[str, np.ndarray | None] = {
        "recency": -recency, "frequency": history["orders"].fillna(0.0).to_numpy()}
    fitted = bgnbd_forecast(lines, as_of, [HORIZON_DAYS])
    for name, column in (("bgnbd_p_alive", "p_alive"), (BASELINES[3], f"expected_orders_{HORIZON_DAYS}d")):
        scores[name] = None if fitted is None else fitted[column].reindex(customers, fill_value=0.0).to_numpy()
    return scores


def calibration(labels: np.ndarray, p: np.ndarray) -> dict:
    """Mean predicted probability vs the observed buyer rate, overall and per decile of p."""
    table = calibration_table(labels, p)
    return {"mean_predicted": float(p.mean()), "observed_rate": float(labels.mean()),
            "buyers": int(labels.sum()), "by_decile": table.drop(columns="bin").to_dict(orient="records")}


def outcomes(wh: Warehouse, truth: Warehouse, as_of: dt.date) -> list[Outcome]:
    """ROC AUC and top-decile lift of p_purchase_30d and of each baseline on the mart's customers."""
    mart = mart_partition(wh, catalog.USER_PROPENSITY, as_of)
    if mart is None:
        return []
    if not window_covered(truth, as_of, HORIZON_DAYS):
        note = uncovered_note(truth, as_of, HORIZON_DAYS)
        return [Outcome(NAME, metric, math.nan, dict.fromkeys(BASELINES, math.nan), 0, True, note)
                for metric in METRICS.values()]
    mart = mart.assign(customer_id=mart["customer_id"].astype(str)).sort_values("customer_id", kind="stable")
    customers = pd.Index(mart["customer_id"], name="customer_id")
    labels = bought_in_window(truth, as_of, customers, HORIZON_DAYS)
    p = mart[SCORE_COLUMN].to_numpy(dtype=float)
    model = score_ranking(labels, p)
    nan_scores = dict.fromkeys(model, math.nan)
    baselines = {name: nan_scores if s is None else score_ranking(labels, s)
                 for name, s in baseline_scores(wh, as_of, customers).items()}
    buyers = int(labels.sum())
    note = (f"{len(customers)} customers of {catalog.USER_PROPENSITY} for {as_of}, {buyers} of them with an "
            f"order in [{as_of}, {window_end(as_of, HORIZON_DAYS)})")
    details = {"calibration": calibration(labels, p),
               "roc_auc_standard_error": auc_standard_error(model["roc_auc"], buyers, len(labels) - buyers)}
    return [Outcome(NAME, metric, model[key], {name: values[key] for name, values in baselines.items()},
                    len(customers), True, note, details)
            for key, metric in METRICS.items()]
