"""Orders, active customers and the purchase label, all relative to an as-of date D, and the
family's time layout of origins around D (`plan_origins`).

Definitions follow `ml.features.user_features`: a *purchase line* is a merchandise line (fees and
postage excluded) of a known customer that is not a return; a *return line* has `is_return`. An
*order* is an invoice with at least one purchase line of positive quantity, so a cancellation
(flagged, negative) never counts. The label of a customer at origin D is 1 when they place at least
one order in [D, D + horizon).
"""
from __future__ import annotations

import datetime as dt

import pandas as pd

from ml.data import NON_MERCHANDISE_CODES
from ml.families.propensity.config import DEFAULTS, PropensityConfig
from ml.features import ACTIVE_DAYS  # a purchase in the last year makes a customer active
from ml.sql import require_columns

ORDER_LINE_COLUMNS = ("invoice_id", "product_id", "quantity", "unit_price", "invoice_ts", "customer_id", "is_return")
HORIZON_DAYS = 30  # a fact, not a setting: the mart's p_purchase_30d is named after it


def to_timestamp(day: dt.date | str | pd.Timestamp) -> pd.Timestamp:
    """Midnight of an as-of date; all windows are half-open [start, end) on these."""
    return pd.Timestamp(day).normalize()


def _customer_merchandise(order_lines: pd.DataFrame) -> pd.DataFrame:
    require_columns(order_lines, ORDER_LINE_COLUMNS, "order lines")
    known = order_lines["customer_id"].notna()
    merchandise = ~order_lines["product_id"].astype(str).str.upper().isin(NON_MERCHANDISE_CODES)
    return order_lines[known & merchandise]


def select_purchase_lines(order_lines: pd.DataFrame) -> pd.DataFrame:
    """Merchandise lines of known customers that are not returns (guests, fees, postage dropped)."""
    lines = _customer_merchandise(order_lines)
    return lines[~lines["is_return"].fillna(False).astype(bool)]


def select_order_lines(order_lines: pd.DataFrame) -> pd.DataFrame:
    """Purchase lines of positive quantity: what makes an invoice a (non-cancelled) order."""
    lines = select_purchase_lines(order_lines)
    return lines[lines["quantity"] > 0]


def select_return_lines(order_lines: pd.DataFrame) -> pd.DataFrame:
    """Returned or cancelled merchandise lines of known customers."""
    lines = _customer_merchandise(order_lines)
    return lines[lines["is_return"].fillna(False).astype(bool)]


def select_active_customers(order_lines: pd.DataFrame, as_of, active_days: int = ACTIVE_DAYS) -> pd.Index:
    """Customers with a purchase in [D - active_days, D), sorted: `is_active` of user_features, the
    population scored and trained on."""
    end = to_timestamp(as_of)
    lines = select_purchase_lines(order_lines)
    window = lines[(lines["invoice_ts"] >= end - pd.Timedelta(days=active_days)) & (lines["invoice_ts"] < end)]
    return pd.Index(sorted(window["customer_id"].astype(str).unique()), name="customer_id")


def label_purchases(order_lines: pd.DataFrame, customers, as_of, horizon_days: int = HORIZON_DAYS) -> pd.Series:
    """1 where the customer places at least one order in [D, D + horizon_days), else 0.

    Args:
        order_lines: canonical order-line frame; may include lines after D (it must, to have labels).
        customers: the customer ids to label (e.g. the active population at D).
        as_of: the origin D.
        horizon_days: length of the label window.

    Returns:
        int8 Series indexed by customer_id in the order of `customers`.
    """
    start = to_timestamp(as_of)
    end = start + pd.Timedelta(days=horizon_days)
    lines = select_order_lines(order_lines)
    buyers = set(lines.loc[(lines["invoice_ts"] >= start) & (lines["invoice_ts"] < end), "customer_id"].astype(str))
    index = pd.Index([str(c) for c in customers], name="customer_id")
    return pd.Series([int(c in buyers) for c in index], index=index, dtype="int8", name="label")


def plan_rolling_origins(as_of, n_origins: int, step_days: int = DEFAULTS.step_days,
                         horizon_days: int = HORIZON_DAYS) -> list[pd.Timestamp]:
    """Past origins, newest first, whose label windows all end on or before D.

    The newest origin is D - horizon_days, so its window [o, o + horizon) ends exactly at D and no
    label ever looks at D or later. Older ones step back by `step_days`.
    """
    if n_origins < 1:
        raise ValueError("n_origins must be at least 1")
    newest = to_timestamp(as_of) - pd.Timedelta(days=horizon_days)
    return [newest - pd.Timedelta(days=step_days * k) for k in range(n_origins)]


def plan_origins(as_of: dt.date, config: PropensityConfig = DEFAULTS) -> tuple[dt.date, list[dt.date]]:
    """(holdout origin, training origins newest first); training labels end where the holdout's begin."""
    holdout = as_of - dt.timedelta(days=HORIZON_DAYS)
    # rolling origins "as of" the holdout origin: their label windows all end by the holdout's start
    return holdout, [o.date() for o in plan_rolling_origins(holdout, config.n_train_origins, config.step_days)]
