"""marts.marketing_audiences from whichever customer marts exist: the warehouse side of
`ml.audiences.rules` (which holds the rules and their tests).

Each source mart is read at its latest as-of partition not after the run's as-of date, and its
columns are renamed to the names the rules use. A missing mart (or column) is logged and passed on
as missing, so only the rules that need it go quiet; a stale one is used and logged. Cross-sell
offers (`bought_together`) come from marts.product_associations, read only when an audience uses them.
"""
from __future__ import annotations

import datetime as dt
import logging
from pathlib import Path

import pandas as pd
import pyarrow as pa

from ml import catalog, run_journal
from ml.audiences.bought_together import read_bought_together
from ml.audiences.rules import FIELDS, AudienceConfig, build_audiences, load_audiences
from ml.families.customer_value.tiers import load_tiers
from ml.sql import sql_literal
from ml.warehouse import Warehouse

log = logging.getLogger(__name__)

AUDIENCES_MART = catalog.MARKETING_AUDIENCES
# source -> (mart, {mart column: rule column})
SOURCE_MARTS = {
    "value": (catalog.USER_VALUE, {"value_tier": "value_tier", "p_alive": "p_alive",
                                   "predicted_clv_365d": "predicted_clv_365d",
                                   "expected_orders_90d": "expected_orders_90d", "historical_value": "historical_value",
                                   "predicted_clv_365d_low": "predicted_clv_365d_low", "p_order_30d": "p_order_30d",
                                   "p_order_90d": "p_order_90d"}),
    "segments": (catalog.USER_SEGMENTS, {"segment_name": "segment"}),
    "propensity": (catalog.USER_PROPENSITY, {"p_purchase_30d": "propensity", "churn_risk": "churn_risk"}),
    "recommendations": (catalog.USER_RECOMMENDATIONS, {"product_id": "product_id", "rank": "rank"}),
}


def read_source_mart(wh: Warehouse, table: str, columns: dict[str, str], as_of: dt.date) -> pd.DataFrame | None:
    """The latest partition of `table` on or before `as_of`, renamed; None when there is none."""
    if not wh.table_exists(table):
        log.warning("%s does not exist; audience rules that need it match no one", table)
        return None
    latest = wh.scalar(f"SELECT MAX(as_of_date) FROM {table} WHERE as_of_date <= {sql_literal(as_of)}")
    if latest is None or pd.isna(latest):
        log.warning("%s has no partition on or before %s; audience rules that need it match no one", table, as_of)
        return None
    latest = pd.Timestamp(latest).date()
    if latest < as_of:
        log.warning("%s is stale: using its partition of %s for audiences as of %s", table, latest, as_of)
    existing = set(wh.columns(table))
    if "customer_id" not in existing:
        log.warning("%s has no customer_id column; ignored", table)
        return None
    present = [c for c in columns if c in existing]
    if len(present) < len(columns):
        log.warning("%s lacks column(s) %s; rules that need them match no one", table,
                    sorted(set(columns) - set(present)))
    frame = wh.query(f"SELECT customer_id{''.join(', ' + c for c in present)} FROM {table} "
                     f"WHERE as_of_date = {sql_literal(latest)}")
    return frame.rename(columns=columns)


def bought_together_count(config: AudienceConfig) -> int:
    """Offers per customer the config needs from the association rules (0: no audience uses them)."""
    offers = [a.offer.count for a in config.audiences if a.offer is not None and a.offer.type == "bought_together"]
    flagged = any(FIELDS[key][0] == "bought_together" for a in config.audiences for key in a.when)
    return max(offers, default=1 if flagged else 0)


def build_marketing_audiences(wh: Warehouse, as_of: dt.date, run_id: str, config_path: str | Path | None = None,
                              tiers_path: str | Path | None = None) -> int:
    """Validate the config, read the marts, resolve audiences and replace the as-of partition."""
    # The config is checked before anything is read, so a typo fails fast and writes nothing.
    config = load_audiences(config_path, tier_names=[t.name for t in load_tiers(tiers_path)])
    frames = {source: read_source_mart(wh, table, columns, as_of) for source, (table, columns) in SOURCE_MARTS.items()}
    if (count := bought_together_count(config)) > 0:
        frames["bought_together"] = read_bought_together(wh, as_of, count)
    audiences = build_audiences(config, frames)
    audiences["run_id"] = run_id
    # Explicit types, so that even an empty first write creates the table with the right columns.
    for column in ("customer_id", "audience", "action", "reason", "offer_product_ids", "run_id"):
        audiences[column] = audiences[column].astype("string")
    audiences["priority"] = audiences["priority"].astype("int64")
    audiences["is_control"] = audiences["is_control"].astype(bool)
    audiences["as_of_date"] = pd.array([as_of] * len(audiences), dtype=pd.ArrowDtype(pa.date32()))
    wh.replace_partition(AUDIENCES_MART, audiences, {"as_of_date": pd.Timestamp(as_of).date()})
    warn_underpowered(audiences, config)
    return len(audiences)


def warn_underpowered(audiences: pd.DataFrame, config: AudienceConfig) -> None:
    """Log each audience's size; warn where its control group cannot detect the expected effect (at a 50%
    conversion rate, the widest case: the readout checks again at the rate observed)."""
    from ml.audiences.uplift import detectable_effect

    expected = {a.name: a for a in config.audiences}
    for name, group in audiences.groupby("audience"):
        control = int(group["is_control"].sum())
        log.info("audience %s: %d customers, %d in control", name, len(group), control)
        audience = expected.get(name)
        if audience is None or audience.control_share == 0:
            continue  # no control wanted (suppression lists)
        mde = detectable_effect(0.5, len(group) - control, control)
        if mde > audience.expected_effect:
            log.warning("audience %s: its control group of %d can detect a conversion lift of %.3f or more, not the "
                        "%.3f the config expects; its uplift readout will be indicative only (a larger "
                        "control_share or audience helps)", name, control, mde, audience.expected_effect)


def run_build_audiences(requested_as_of: str | None, run_id: str) -> dict:
    """Task body for dags/build_audiences.py: returns a reference, never data."""
    from ml.orchestration import resolve_as_of
    from ml.warehouse import connect

    with connect() as wh:
        as_of = resolve_as_of(wh, requested_as_of)
        rows = build_marketing_audiences(wh, as_of, run_id)
    run_journal.changed("build_marketing_audiences", f"{AUDIENCES_MART} for {as_of} ({rows} customers)")
    return {"table": AUDIENCES_MART, "as_of": as_of.isoformat(), "rows": rows}
