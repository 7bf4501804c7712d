"""The uplift readout: what each audience's campaign did, against its control group (`marts.audience_uplift`).

For every audiences partition D whose readout window [D, D + readout_window_days) lies inside the
latest export, per audience: contacted and control customers, the share of each that bought (a
non-return order) and their net revenue per customer in the window, the difference (contacted -
control) with a 95% interval (Welch's t, scipy), and whether the control group was large enough to
detect the effect the audience's config expects: the minimum detectable conversion lift at 5%
significance and 80% power, at the control group's own conversion rate, against `expected_effect`.
A group too small to measure anything is written as such, not left out.
"""
from __future__ import annotations

import datetime as dt
import logging
import math

import numpy as np
import pandas as pd
from scipy import stats

from ml import catalog
from ml.audiences.rules import AudienceConfig
from ml.outcomes import realized_customers, window_covered
from ml.sql import sql_literal
from ml.warehouse import Warehouse

log = logging.getLogger(__name__)

UPLIFT_MART = catalog.AUDIENCE_UPLIFT
ALPHA, POWER = 0.05, 0.80


def detectable_effect(base_rate: float, treated: int, control: int) -> float:
    """The smallest conversion lift a two-sided test at ALPHA detects with POWER (normal approximation)."""
    if treated < 1 or control < 1:
        return math.inf
    rate = min(max(base_rate, 0.01), 0.99)  # a 0% or 100% control rate has no variance to speak of
    z = stats.norm.ppf(1 - ALPHA / 2) + stats.norm.ppf(POWER)
    return float(z * math.sqrt(rate * (1 - rate) * (1 / treated + 1 / control)))


def difference(treated: np.ndarray, control: np.ndarray) -> tuple[float, float, float]:
    """mean(treated) - mean(control) and its 95% interval (Welch); NaN bounds below two per group."""
    diff = float(np.mean(treated) - np.mean(control)) if len(treated) and len(control) else math.nan
    if len(treated) < 2 or len(control) < 2 or (np.var(treated) == 0 and np.var(control) == 0):
        return diff, math.nan, math.nan
    interval = stats.ttest_ind(treated, control, equal_var=False).confidence_interval(1 - ALPHA)
    return diff, float(interval.low), float(interval.high)


def read_out(members: pd.DataFrame, outcomes: pd.DataFrame, config: AudienceConfig, window_days: int) -> pd.DataFrame:
    """One row per audience: `members` (customer_id, audience, action, is_control) against `outcomes`
    (customer_id, orders, spend in the window)."""
    expected = {a.name: a.expected_effect for a in config.audiences}
    joined = members.merge(outcomes, on="customer_id", how="left").fillna({"orders": 0.0, "spend": 0.0})
    joined["converted"] = (joined["orders"] > 0).astype(float)
    rows = []
    for name, group in joined.groupby("audience", sort=True):
        treated, control = group[~group["is_control"]], group[group["is_control"]]
        conversion = difference(treated["converted"].to_numpy(), control["converted"].to_numpy())
        revenue = difference(treated["spend"].to_numpy(), control["spend"].to_numpy())
        control_rate = float(control["converted"].mean()) if len(control) else math.nan
        mde = detectable_effect(control_rate if len(control) else 0.5, len(treated), len(control))
        effect = expected.get(name, math.nan)
        if len(control) < 2:
            note = f"a control group of {len(control)} cannot measure uplift"
        elif mde > effect:
            note = (f"the control group of {len(control)} detects a lift of {mde:.3f} or more, not the "
                    f"{effect:.3f} the config expects: the result is indicative only")
        else:
            note = ""
        rows.append({
            "audience": name, "action": str(group["action"].iat[0]), "window_days": int(window_days),
            "treated": len(treated), "control": len(control),
            "treated_conversion": float(treated["converted"].mean()) if len(treated) else math.nan,
            "control_conversion": control_rate, "conversion_uplift": conversion[0],
            "conversion_uplift_low": conversion[1], "conversion_uplift_high": conversion[2],
            "treated_revenue": float(treated["spend"].mean()) if len(treated) else math.nan,
            "control_revenue": float(control["spend"].mean()) if len(control) else math.nan,
            "revenue_uplift": revenue[0], "revenue_uplift_low": revenue[1], "revenue_uplift_high": revenue[2],
            "expected_effect": effect, "detectable_effect": mde, "powered": bool(mde <= effect), "note": note,
        })
    return pd.DataFrame(rows)


def readout_dates(wh: Warehouse, window_days: int) -> list[tuple[dt.date, str]]:
    """(D, the Airflow run that built it) of audiences partitions whose window has passed, not yet read out."""
    if not wh.table_exists(catalog.MARKETING_AUDIENCES):
        return []
    built = wh.query(f"SELECT DISTINCT CAST(as_of_date AS VARCHAR) AS d, run_id FROM {catalog.MARKETING_AUDIENCES}")
    done = set()
    if wh.table_exists(UPLIFT_MART):
        read = wh.query(f"SELECT DISTINCT CAST(as_of_date AS VARCHAR) AS d, run_id FROM {UPLIFT_MART}")
        done = {(str(r.d)[:10], r.run_id) for r in read.itertuples()}
    found = []
    for row in built.sort_values("d").itertuples():
        day = dt.date.fromisoformat(str(row.d)[:10])
        if (str(row.d)[:10], row.run_id) not in done and window_covered(wh, day, window_days):
            found.append((day, row.run_id))
    return found


def read_out_due(wh: Warehouse, config: AudienceConfig) -> list[str]:
    """Write the readout of every audiences partition that is due; returns what was read out."""
    window = config.readout_window_days
    written = []
    for as_of, run_id in readout_dates(wh, window):
        members = wh.query(f"SELECT customer_id, audience, action, is_control FROM {catalog.MARKETING_AUDIENCES} "
                           f"WHERE as_of_date = {sql_literal(as_of)}")
        members["is_control"] = members["is_control"].astype(bool)
        outcome = realized_customers(wh, as_of, as_of + dt.timedelta(days=window))
        rows = read_out(members, outcome, config, window)
        if rows.empty:
            continue
        rows["run_id"], rows["as_of_date"] = run_id, as_of
        for column in ("audience", "action", "note", "run_id"):
            rows[column] = rows[column].astype("string")
        wh.replace_partition(UPLIFT_MART, rows, {"as_of_date": as_of})
        for row in rows.itertuples():
            log.info("%s %s: %d contacted, %d control; conversion %.3f vs %.3f (uplift %+.3f, 95%% [%.3f, %.3f])%s",
                     as_of, row.audience, row.treated, row.control, row.treated_conversion, row.control_conversion,
                     row.conversion_uplift, row.conversion_uplift_low, row.conversion_uplift_high,
                     f"; {row.note}" if row.note else "")
        written.append(f"audiences of {as_of}")
    return written


def run_read_out_uplift() -> dict:
    """Task body for dags/evaluate_outcomes.py: the readouts written, never data."""
    from ml import run_journal
    from ml.audiences.rules import load_audiences
    from ml.families.customer_value.tiers import load_tiers
    from ml.warehouse import connect

    config = load_audiences(tier_names=[t.name for t in load_tiers()])
    with connect() as wh:
        written = read_out_due(wh, config)
    if written:
        run_journal.changed("read_out_uplift", f"{UPLIFT_MART}: {', '.join(written)}")
    else:
        log.info("no audiences partition has its %d-day readout window passed yet (or each was read out already)",
                 config.readout_window_days)
    return {"table": UPLIFT_MART, "read_out": written}
