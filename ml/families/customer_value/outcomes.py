"""marts.user_value for D against what its customers really ordered and spent after D, beside the baselines.

Population: the customers of the mart's partition for D. What happened (`ml.outcomes.realized_customers`):
orders = distinct non-return invoices, spend = net of returns, in [D, D + h) with h = horizon_days (90).

* `orders_rmse_{h}d`: the mart's `expected_orders_{h}d` against the actual orders;
* `spend_mae_{h}d`: the champion's expected spend (the mart has no such column: the version named on
  the mart rows is loaded from MLflow and predicts on the family's features for D, as `score.py`
  does) against the actual net spend;
* `clv_spearman`: rank correlation of `predicted_clv_365d` with the actual net spend over
  [D, D + clv_days), or over the longest window the export covers when that is shorter but at least
  h days (the note names it); NaN under h days.

Baselines, from the order lines before D only (see `baselines.py`): `historical_spend_rate` (net
spend / orders per day of tenure, times the window), `bgnbd_gg` (BG/NBD + Gamma-Gamma fitted on the
same history), `last_{h}d_repeat` (orders of the h days before D again, orders only) and, for the
CLV ranking, `historical_spend` (net spend before D itself). Lower is better for RMSE and MAE.
The next-order fields and the value interval are judged in `timing_outcomes.py`.
"""
from __future__ import annotations

import datetime as dt
import math

import numpy as np
import pandas as pd

from ml import catalog
from ml.data import read_order_lines
from ml.families.base import ModelRef
from ml.families.customer_value import pyfunc
from ml.families.customer_value.baselines import bgnbd_forecast, history_by_customer, rate_forecast, uncovered_note
from ml.families.customer_value.config import NAME, load
from ml.families.customer_value.evaluate import score_predictions
from ml.families.customer_value.features import ensure_features, read_features
from ml.families.customer_value.timing_outcomes import timing_outcomes
from ml.outcomes import Outcome, data_end, mart_partition, realized_customers, window_covered, window_end
from ml.warehouse import Warehouse

CLV_COLUMN = "predicted_clv_365d"


def champion_spend(wh: Warehouse, as_of: dt.date, mart: pd.DataFrame) -> pd.DataFrame:
    """expected_orders and expected_spend of the version(s) named on the mart rows, indexed like `mart`."""
    from ml import tracking

    tracking.configure()
    ensure_features(wh, as_of)
    features = read_features(wh, as_of, as_of)
    missing = mart.index.difference(features.index)
    if len(missing):
        raise ValueError(f"{len(missing)} mart customers have no features for {as_of} (e.g. {missing[0]})")
    out = pd.DataFrame(np.nan, index=mart.index, columns=["expected_orders", "expected_spend"])
    for (name, version), rows in mart.groupby(["model_name", "model_version"]):
        model = pyfunc.load_model(ModelRef(str(name), str(version), str(rows["run_id"].iloc[0])))
        predicted = pyfunc.predict_frame(model, features.loc[rows.index])
        out.loc[rows.index] = predicted[list(out.columns)].to_numpy()
    return out


def clv_window(truth: Warehouse, as_of: dt.date, clv_days: int, min_days: int) -> tuple[int | None, str]:
    """(days of [D, D + days) the CLV is judged on, note); None when under `min_days` are covered."""
    if window_covered(truth, as_of, clv_days):
        return clv_days, f"net spend in [{as_of}, {window_end(as_of, clv_days)})"
    end = data_end(truth)
    days = (end - as_of).days if end else 0
    if days < min_days:
        return None, f"{uncovered_note(truth, as_of, clv_days)}; under {min_days} days after D"
    return days, (f"the export ends on {end - dt.timedelta(days=1)}: net spend in [{as_of}, {end}), "
                  f"{days} days, not {clv_days}")


def spearman(a, b) -> float:
    return float(pd.Series(np.asarray(a, float)).corr(pd.Series(np.asarray(b, float)), method="spearman"))


def clv_ranking(truth: Warehouse, as_of: dt.date, mart: pd.DataFrame, history: pd.DataFrame,
                fitted: pd.DataFrame | None, days: int, h: int) -> tuple[float, dict[str, float]]:
    """Spearman of the mart's CLV and of each baseline's ranking with net spend in [D, D + days).

    The historical rate keeps its tenure floor of one horizon h: a rate ranks alike over any window."""
    actual = realized_customers(truth, as_of, window_end(as_of, days)).set_index("customer_id")
    spend = actual["spend"].reindex(mart.index, fill_value=0.0)
    baselines = {"historical_spend_rate": spearman(rate_forecast(history, h)["expected_spend"], spend),
                 "historical_spend": spearman(history["spend"].fillna(0.0), spend),
                 "bgnbd_gg": math.nan if fitted is None else spearman(fitted[f"expected_spend_{days}d"], spend)}
    return spearman(mart[CLV_COLUMN], spend), baselines


def outcomes(wh: Warehouse, truth: Warehouse, as_of: dt.date) -> list[Outcome]:
    """Orders RMSE, spend MAE (over the horizon) and CLV rank correlation, each beside its baselines."""
    mart = mart_partition(wh, catalog.USER_VALUE, as_of)
    if mart is None:
        return []
    config = load()
    h = config.horizon_days
    names = {"orders": f"orders_rmse_{h}d", "spend": f"spend_mae_{h}d", "clv": "clv_spearman"}
    baseline_names = {"orders": ("historical_spend_rate", "bgnbd_gg", f"last_{h}d_repeat"),
                      "spend": ("historical_spend_rate", "bgnbd_gg"),
                      "clv": ("historical_spend_rate", "historical_spend", "bgnbd_gg")}
    better = {"orders": False, "spend": False, "clv": True}
    if not window_covered(truth, as_of, h):
        note = uncovered_note(truth, as_of, h)
        return [Outcome(NAME, names[k], math.nan, dict.fromkeys(baseline_names[k], math.nan), 0, better[k], note)
                for k in names]
    mart = mart.assign(customer_id=mart["customer_id"].astype(str)).set_index("customer_id").sort_index()
    n = len(mart)
    lines = read_order_lines(wh, before=as_of, customers_only=True)
    history = history_by_customer(lines, as_of, recent_days=h).reindex(mart.index)
    days, clv_note = clv_window(truth, as_of, config.clv_days, h)
    fitted = bgnbd_forecast(lines, as_of, sorted({h} | ({days} if days else set())))
    if fitted is not None:
        fitted = fitted.reindex(mart.index, fill_value=0.0)
    champion = champion_spend(wh, as_of, mart)
    predictions = {
        "model": pd.DataFrame({"expected_orders": mart[f"expected_orders_{h}d"].astype(float),
                               "expected_spend": champion["expected_spend"]}),
        "historical_spend_rate": rate_forecast(history, h),
        f"last_{h}d_repeat": pd.DataFrame({"expected_orders": history["orders_recent"].fillna(0.0),
                                           "expected_spend": history["spend_recent"].fillna(0.0)}),
    }
    if fitted is not None:
        predictions["bgnbd_gg"] = fitted[[f"expected_orders_{h}d", f"expected_spend_{h}d"]].set_axis(
            ["expected_orders", "expected_spend"], axis=1)
    actual = realized_customers(truth, as_of, window_end(as_of, h)).set_index("customer_id")
    scores = {name: score_predictions(frame, actual) for name, frame in predictions.items()}
    scores.setdefault("bgnbd_gg", dict.fromkeys(scores["model"], math.nan))
    window = f"[{as_of}, {window_end(as_of, h)})"
    totals = {kind: {"predicted": scores["model"][f"total_predicted_{kind}"],
                     "actual": scores["model"][f"total_actual_{kind}"]} for kind in ("orders", "spend")}
    out = [
        Outcome(NAME, names["orders"], scores["model"]["rmse_orders"],
                {b: scores[b]["rmse_orders"] for b in baseline_names["orders"]}, n, False,
                f"{n} customers of {catalog.USER_VALUE}; orders = distinct non-return invoices in {window} "
                "(the mart counts invoices too; the bgnbd_gg baseline counts purchase days, its own unit)", {"totals": totals["orders"]}),
        Outcome(NAME, names["spend"], scores["model"]["mae_spend"],
                {b: scores[b]["mae_spend"] for b in baseline_names["spend"]}, n, False,
                f"{n} customers; the champion's expected spend against net spend in {window}",
                {"totals": totals["spend"], "max_abs_orders_vs_mart": float(
                    (champion["expected_orders"] - mart[f"expected_orders_{h}d"]).abs().max())}),
    ]
    if days is None:
        model_clv, clv_baselines = math.nan, dict.fromkeys(baseline_names["clv"], math.nan)
    else:
        model_clv, clv_baselines = clv_ranking(truth, as_of, mart, history, fitted, days, h)
    out.append(Outcome(NAME, names["clv"], model_clv, clv_baselines, n if days else 0, True, clv_note,
                       {"window_days": days}))
    return out + timing_outcomes(wh, truth, as_of, mart)
