"""The product x week panel in memory: its columns, and the dense matrices built from its rows.

The weekly aggregation runs in SQL (`features`); lags and rolling means (`lags`) are cheaper on the
dense `PanelMatrix` that `to_matrix` builds from the panel's rows.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from ml.sql import require_columns

PANEL_COLUMNS = {
    "product_id": "TEXT",
    "week_start": "DATE",
    "units": "DOUBLE PRECISION",  # net units: sales minus returns/cancellations, guests included
    "gross_units": "DOUBLE PRECISION",
    "gross_revenue": "DOUBLE PRECISION",
    "n_buyers": "BIGINT",  # distinct known customers buying that week (guests cannot be counted)
    "n_lines": "BIGINT",
    "category": "TEXT",
}


def check_panel(panel: pd.DataFrame) -> pd.DataFrame:
    """Fail loudly on a panel that lags would silently misread; returns it with clean dtypes."""
    require_columns(panel, PANEL_COLUMNS, "weekly panel")
    if panel.empty:
        raise ValueError("weekly panel is empty: no order lines before the forecast origin")
    panel = panel.copy()
    panel["product_id"] = panel["product_id"].astype(str)
    panel["week_start"] = pd.to_datetime(panel["week_start"]).dt.normalize()
    if (panel["week_start"].dt.day_of_week != 0).any():
        raise ValueError("weekly panel has week_start values that are not Mondays")
    if panel.duplicated(["product_id", "week_start"]).any():
        raise ValueError("weekly panel has duplicate (product_id, week_start) rows")
    return panel


@dataclass
class PanelMatrix:
    """The panel as dense (product x week) arrays; weeks are consecutive Mondays.

    `units` is 0 before a product's first week; `price` (mean gross selling price) is NaN in weeks
    without sales. Column j of a matrix is week `weeks[j]`; an origin index t means weeks < t are known.
    """

    product_ids: np.ndarray
    weeks: pd.DatetimeIndex
    units: np.ndarray
    price: np.ndarray
    buyers: np.ndarray
    first_idx: np.ndarray
    category: np.ndarray  # object array, None where unknown

    @property
    def n_weeks(self) -> int:
        return len(self.weeks)

    def week_at(self, index: int) -> pd.Timestamp:
        """Monday of week `index`, also past the last panel week (future forecast weeks)."""
        return self.weeks[0] + pd.Timedelta(weeks=int(index))


def to_matrix(panel: pd.DataFrame) -> PanelMatrix:
    """Dense matrices from panel rows (missing product-weeks count as zero sales)."""
    panel = check_panel(panel)
    weeks = pd.date_range(panel["week_start"].min(), panel["week_start"].max(), freq="7D")
    products = np.array(sorted(panel["product_id"].unique()), dtype=object)
    row = pd.Index(products).get_indexer(panel["product_id"])
    col = ((panel["week_start"] - weeks[0]).dt.days // 7).to_numpy()
    shape = (len(products), len(weeks))

    def dense(values, fill):
        out = np.full(shape, fill, dtype="float64")
        out[row, col] = np.asarray(values, dtype="float64")
        return out

    gross_units = dense(panel["gross_units"], 0.0)
    gross_revenue = dense(panel["gross_revenue"], 0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        price = np.where(gross_units > 0, gross_revenue / gross_units, np.nan)
    first = np.full(len(products), len(weeks), dtype="int64")
    np.minimum.at(first, row, col)
    categories = panel.groupby("product_id", sort=True)["category"].first().reindex(products)
    category = np.array([None if pd.isna(c) else str(c) for c in categories], dtype=object)
    return PanelMatrix(
        product_ids=products,
        weeks=weeks,
        units=dense(panel["units"], 0.0),
        price=price,
        buyers=dense(panel["n_buyers"], 0.0),
        first_idx=first,
        category=category,
    )
