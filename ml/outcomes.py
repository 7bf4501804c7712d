"""What happened after an as-of date, to hold a mart's predictions (and the simple baselines') against.

A family's `outcomes.py` reads its mart partition for D from the workspace warehouse and what
customers and products really did in [D, D + horizon) from the *truth* warehouse (the whole export,
orders after D included), and returns one `Outcome` per metric: the champion's value beside every
baseline's on the same customers or products. `python -m ml evaluate` and the live checks of past
scores both use them.
"""
from __future__ import annotations

import datetime as dt
import math
from dataclasses import asdict, dataclass, field

import pandas as pd

from ml import catalog
from ml.data import merchandise_predicate
from ml.sql import sql_literal
from ml.warehouse import Warehouse


@dataclass(frozen=True)
class Outcome:
    family: str
    metric: str  # what was measured, with its horizon: roc_auc_30d, orders_rmse_90d, ndcg_at_10_30d, ...
    model: float  # the champion's mart, scored on what happened
    baselines: dict[str, float]  # each simple baseline, scored on the same customers or products
    n: int  # customers (or product-weeks) scored
    higher_is_better: bool
    note: str = ""  # what the numbers stand on, or why a metric could not be measured
    details: dict = field(default_factory=dict)

    @property
    def best_baseline(self) -> tuple[str, float] | None:
        """The strongest baseline by this metric's direction (NaN baselines never win)."""
        valid = {name: value for name, value in self.baselines.items() if not math.isnan(value)}
        if not valid:
            return None
        pick = max if self.higher_is_better else min
        name = pick(valid, key=valid.get)
        return name, valid[name]

    @property
    def ratio(self) -> float:
        """model / best baseline: above 1.00 is better for AUC-like metrics, below 1.00 for errors.

        Undefined (nan) where the best baseline is not positive (a negative rank correlation): a ratio
        of two signed numbers reads backwards.
        """
        best = self.best_baseline
        if best is None or math.isnan(self.model) or best[1] <= 0:
            return math.nan
        return self.model / best[1]

    @property
    def beats_best_baseline(self) -> bool | None:
        """At least as good as the strongest baseline (None when either side is missing)."""
        best = self.best_baseline
        if best is None or math.isnan(self.model):
            return None
        return self.model >= best[1] if self.higher_is_better else self.model <= best[1]

    def as_dict(self) -> dict:
        best = self.best_baseline
        return {**asdict(self), "best_baseline": best[0] if best else None,
                "best_baseline_value": best[1] if best else None, "ratio": self.ratio,
                "beats_best_baseline": self.beats_best_baseline}


def window_end(as_of: dt.date, horizon_days: int) -> dt.date:
    return as_of + dt.timedelta(days=horizon_days)


def data_end(truth: Warehouse) -> dt.date | None:
    """The day after the last order line the truth holds (what a window must reach to be complete)."""
    last = truth.scalar(f"SELECT max(invoice_ts) FROM {catalog.RAW_ORDER_LINES}")
    if last is None or pd.isna(last):
        return None
    return (pd.Timestamp(last).normalize() + pd.Timedelta(days=1)).date()


def window_covered(truth: Warehouse, as_of: dt.date, horizon_days: int) -> bool:
    """True when the export reaches the end of [D, D + horizon): only then is an outcome final."""
    end = data_end(truth)
    return end is not None and end >= window_end(as_of, horizon_days)


def realized_lines(truth: Warehouse, start: dt.date, end: dt.date, customers_only: bool = True) -> pd.DataFrame:
    """Merchandise order lines with start <= invoice_ts < end, returns included (is_return marks them)."""
    where = [f"invoice_ts >= {sql_literal(start)}", f"invoice_ts < {sql_literal(end)}", merchandise_predicate()]
    if customers_only:
        where.append("customer_id IS NOT NULL")
    return truth.query(
        "SELECT invoice_id, product_id, quantity, unit_price, invoice_ts, customer_id, is_return "
        f"FROM {catalog.RAW_ORDER_LINES} WHERE {' AND '.join(where)}")


def realized_customers(truth: Warehouse, start: dt.date, end: dt.date) -> pd.DataFrame:
    """Per customer in [start, end): orders (distinct non-return invoices) and net spend (returns subtract)."""
    lines = realized_lines(truth, start, end)
    if lines.empty:
        return pd.DataFrame({"customer_id": pd.Series(dtype=str), "orders": pd.Series(dtype=float),
                             "spend": pd.Series(dtype=float)})
    lines["value"] = lines["quantity"].astype(float) * lines["unit_price"].astype(float)
    bought = lines[~lines["is_return"].astype(bool)]
    orders = bought.groupby("customer_id")["invoice_id"].nunique().rename("orders")
    spend = lines.groupby("customer_id")["value"].sum().rename("spend")
    out = pd.concat([orders, spend], axis=1).fillna(0.0).reset_index()
    out["customer_id"] = out["customer_id"].astype(str)
    return out.astype({"orders": float, "spend": float})


def mart_partition(wh: Warehouse, mart: str, as_of: dt.date) -> pd.DataFrame | None:
    """The mart's rows for D, or None when the family wrote nothing for that date."""
    if not wh.table_exists(mart):
        return None
    rows = wh.query(f"SELECT * FROM {mart} WHERE as_of_date = {sql_literal(as_of)}")
    return rows if len(rows) else None
