"""The numbers of the marketer's report, read from the marts for one as-of date.

Each section reads its mart's latest partition on or before the as-of date (audiences do the same),
says which partition and which model versions wrote it, and is empty with a reason when the mart has
nothing: a shop whose forecast family has not run yet still gets the rest of its report.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import pandas as pd

from ml import catalog
from ml.families.customer_value.tiers import load_tiers
from ml.sql import sql_literal
from ml.warehouse import Warehouse

TOP_PRODUCTS = 10
FORECAST_PRODUCTS = 5
HISTORY_WEEKS = 12


@dataclass(frozen=True)
class Section:
    """One part of the report: its table (None when there is nothing to show) and where it comes from."""
    key: str
    title: str
    table: pd.DataFrame | None
    source: str
    note: str = ""
    history: pd.DataFrame | None = None  # the forecast's recent actuals, drawn beside it

    @property
    def empty(self) -> bool:
        return self.table is None or self.table.empty


def latest_partition(wh: Warehouse, table: str, as_of: dt.date) -> dt.date | None:
    """The newest as_of_date of `table` on or before `as_of`; None when the table or partition is missing."""
    if not wh.table_exists(table):
        return None
    latest = wh.scalar(f"SELECT MAX(as_of_date) FROM {table} WHERE as_of_date <= {sql_literal(as_of)}")
    return None if latest is None or pd.isna(latest) else pd.Timestamp(latest).date()


def lineage(wh: Warehouse, table: str, day: dt.date, as_of: dt.date) -> str:
    """`marts.x for D, model m version v (kind)`: what an analyst needs to trace the section back."""
    stale = f" (the latest partition on or before {as_of})" if day < as_of else ""
    text = f"{table} for {day}{stale}"
    if "model_version" in wh.columns(table):
        models = wh.query(f"SELECT DISTINCT model_name, model_version, model_kind FROM {table} "
                          f"WHERE as_of_date = {sql_literal(day)} ORDER BY model_name, model_version")
        served = [f"{r.model_name} version {r.model_version}" + (f" ({r.model_kind})" if r.model_kind else "")
                  for r in models.itertuples()]
        text += ", written by " + ", ".join(served) if served else ""
    return text


def _missing(wh: Warehouse, key: str, title: str, table: str, as_of: dt.date) -> Section:
    why = f"has no partition on or before {as_of}" if wh.table_exists(table) else "does not exist"
    return Section(key, title, None, table, f"nothing to show: {table} {why} (its DAG has not written it for this shop)")


def segments(wh: Warehouse, as_of: dt.date) -> Section:
    """Customers, share, and mean recency / orders / net spend to date per segment, largest first."""
    title = "Segments"
    day = latest_partition(wh, catalog.USER_SEGMENTS, as_of)
    if day is None:
        return _missing(wh, "segments", title, catalog.USER_SEGMENTS, as_of)
    features = wh.table_exists(catalog.USER_FEATURES)
    profile = ("AVG(f.recency_days) AS mean_recency_days, AVG(f.frequency) AS mean_orders, "
               "AVG(f.monetary) AS mean_spend, SUM(f.monetary) AS spend" if features else
               "CAST(NULL AS DOUBLE PRECISION) AS mean_recency_days, CAST(NULL AS DOUBLE PRECISION) AS mean_orders, "
               "CAST(NULL AS DOUBLE PRECISION) AS mean_spend, CAST(NULL AS DOUBLE PRECISION) AS spend")
    join = (f"LEFT JOIN {catalog.USER_FEATURES} f ON f.customer_id = s.customer_id "
            "AND f.as_of_date = s.as_of_date" if features else "")
    table = wh.query(f"SELECT s.segment_name AS segment, COUNT(*) AS customers, {profile} "
                     f"FROM {catalog.USER_SEGMENTS} s {join} WHERE s.as_of_date = {sql_literal(day)} "
                     "GROUP BY s.segment_name")
    table["customer_share"] = table["customers"] / table["customers"].sum()
    table["spend_share"] = table["spend"] / table["spend"].sum() if table["spend"].notna().any() else float("nan")
    table = table.sort_values(["customers", "segment"], ascending=[False, True]).drop(columns="spend")
    columns = ["segment", "customers", "customer_share", "mean_recency_days", "mean_orders", "mean_spend", "spend_share"]
    note = ("recency, orders and net spend are each segment's means to the as-of date (features.user_features)"
            if features else "features.user_features is missing: no profile, only sizes")
    return Section("segments", title, table[columns].reset_index(drop=True),
                   lineage(wh, catalog.USER_SEGMENTS, day, as_of), note)


def value_tiers(wh: Warehouse, as_of: dt.date, tiers_path=None) -> Section:
    """Per value tier, best first: customers, their share, and their share of spend to date and of predicted value."""
    title = "Value tiers"
    day = latest_partition(wh, catalog.USER_VALUE, as_of)
    if day is None:
        return _missing(wh, "value_tiers", title, catalog.USER_VALUE, as_of)
    table = wh.query(f"SELECT value_tier, COUNT(*) AS customers, SUM(historical_value) AS historical_value, "
                     f"SUM(predicted_clv_365d) AS predicted_clv_365d, AVG(p_alive) AS mean_p_alive "
                     f"FROM {catalog.USER_VALUE} WHERE as_of_date = {sql_literal(day)} GROUP BY value_tier")
    order = {tier.name: i for i, tier in enumerate(load_tiers(tiers_path))}
    table = table.assign(_order=table["value_tier"].map(order).fillna(len(order))) \
        .sort_values(["_order", "value_tier"]).drop(columns="_order").reset_index(drop=True)
    table["customer_share"] = table["customers"] / table["customers"].sum()
    table["historical_share"] = table["historical_value"] / table["historical_value"].sum()
    table["predicted_share"] = table["predicted_clv_365d"] / table["predicted_clv_365d"].sum()
    columns = ["value_tier", "customers", "customer_share", "historical_value", "historical_share",
               "predicted_clv_365d", "predicted_share", "mean_p_alive"]
    return Section("value_tiers", title, table[columns], lineage(wh, catalog.USER_VALUE, day, as_of),
                   "historical value = net spend to date; predicted = expected spend over the next 365 days")


def audiences(wh: Warehouse, as_of: dt.date) -> Section:
    """Per audience, in priority order: its action, customers to contact and customers held back as control."""
    title = "Audiences"
    day = latest_partition(wh, catalog.MARKETING_AUDIENCES, as_of)
    if day is None:
        return _missing(wh, "audiences", title, catalog.MARKETING_AUDIENCES, as_of)
    table = wh.query(
        f"SELECT audience, MIN(action) AS action, MIN(priority) AS priority, "
        f"SUM(CASE WHEN is_control THEN 0 ELSE 1 END) AS treated, SUM(CASE WHEN is_control THEN 1 ELSE 0 END) AS control "
        f"FROM {catalog.MARKETING_AUDIENCES} WHERE as_of_date = {sql_literal(day)} GROUP BY audience")
    table = table.sort_values(["priority", "audience"]).reset_index(drop=True)
    table[["treated", "control"]] = table[["treated", "control"]].astype("int64")
    table["control_share"] = table["control"] / (table["treated"] + table["control"])
    source = f"{catalog.MARKETING_AUDIENCES} for {day}, rules in config/audiences.yaml"
    return Section("audiences", title, table[["audience", "action", "treated", "control", "control_share"]], source,
                   "control customers match the audience but are not contacted, so its effect can be measured")


def product_names(wh: Warehouse, product_ids: list[str]) -> dict[str, str]:
    """A description per product, from the order lines (every export has them; a products file may not)."""
    if not product_ids or not wh.table_exists(catalog.RAW_ORDER_LINES):
        return {}
    listed = ", ".join(sql_literal(p) for p in product_ids)
    names = wh.query(f"SELECT product_id, MAX(description) AS description FROM {catalog.RAW_ORDER_LINES} "
                     f"WHERE product_id IN ({listed}) GROUP BY product_id")
    return dict(zip(names["product_id"], names["description"].fillna("")))


def top_recommendations(wh: Warehouse, as_of: dt.date, top_n: int = TOP_PRODUCTS) -> Section:
    """The products recommended to the most customers: in how many lists, and how often first."""
    title = "Top recommended products"
    day = latest_partition(wh, catalog.USER_RECOMMENDATIONS, as_of)
    if day is None:
        return _missing(wh, "recommendations", title, catalog.USER_RECOMMENDATIONS, as_of)
    where = f"as_of_date = {sql_literal(day)}"
    lists = wh.scalar(f"SELECT COUNT(DISTINCT customer_id) FROM {catalog.USER_RECOMMENDATIONS} WHERE {where}")
    table = wh.query(f"SELECT product_id, COUNT(*) AS customers, SUM(CASE WHEN rank = 1 THEN 1 ELSE 0 END) AS first_choice "
                     f"FROM {catalog.USER_RECOMMENDATIONS} WHERE {where} GROUP BY product_id "
                     f"ORDER BY COUNT(*) DESC, product_id LIMIT {int(top_n)}")
    table[["customers", "first_choice"]] = table[["customers", "first_choice"]].astype("int64")
    table.insert(1, "description", table["product_id"].map(product_names(wh, table["product_id"].tolist())).fillna(""))
    table["share_of_lists"] = table["customers"] / lists if lists else float("nan")
    return Section("recommendations", title, table, lineage(wh, catalog.USER_RECOMMENDATIONS, day, as_of),
                   f"{int(lists or 0):,} customers have a list; first choice = recommended at rank 1")


def forecast(wh: Warehouse, as_of: dt.date, top_n: int = FORECAST_PRODUCTS, history_weeks: int = HISTORY_WEEKS) -> Section:
    """The forecast of the products expected to sell most, week by week with its 80% interval,
    and their last weeks of actual net units (from the forecast's own weekly panel)."""
    title = "Sales forecast, top products"
    table_name = catalog.PRODUCT_SALES_FORECAST
    day = latest_partition(wh, table_name, as_of)
    if day is None:
        return _missing(wh, "forecast", title, table_name, as_of)
    where = f"as_of_date = {sql_literal(day)}"
    top = wh.query(f"SELECT product_id FROM {table_name} WHERE {where} GROUP BY product_id "
                   f"ORDER BY SUM(predicted_units) DESC, product_id LIMIT {int(top_n)}")["product_id"].tolist()
    if not top:
        return Section("forecast", title, None, lineage(wh, table_name, day, as_of), "the forecast mart is empty")
    listed = ", ".join(sql_literal(p) for p in top)
    rows = wh.query(f"SELECT product_id, CAST(week_start AS DATE) AS week_start, horizon, predicted_units, lower_80, "
                    f"upper_80 FROM {table_name} WHERE {where} AND product_id IN ({listed})")
    rank = {p: i for i, p in enumerate(top)}
    rows = rows.assign(_rank=rows["product_id"].map(rank)).sort_values(["_rank", "week_start"]).drop(columns="_rank")
    rows.insert(1, "description", rows["product_id"].map(product_names(wh, top)).fillna(""))
    rows["week_start"] = pd.to_datetime(rows["week_start"]).dt.date
    history = None
    if (panel_day := latest_partition(wh, catalog.PRODUCT_WEEKLY_SALES, day)) is not None:
        history = wh.query(f"SELECT product_id, CAST(week_start AS DATE) AS week_start, units "
                           f"FROM {catalog.PRODUCT_WEEKLY_SALES} WHERE as_of_date = {sql_literal(panel_day)} "
                           f"AND product_id IN ({listed}) AND week_start >= "
                           f"{sql_literal(rows['week_start'].min() - dt.timedelta(weeks=history_weeks))}")
        history["week_start"] = pd.to_datetime(history["week_start"]).dt.date
        history = history.sort_values(["product_id", "week_start"]).reset_index(drop=True)
    return Section("forecast", title, rows.reset_index(drop=True), lineage(wh, table_name, day, as_of),
                   f"net units per week with the 80% interval; the line before the forecast is the last "
                   f"{history_weeks} weeks of actual units", history)


def report_sections(wh: Warehouse, as_of: dt.date) -> list[Section]:
    return [segments(wh, as_of), value_tiers(wh, as_of), audiences(wh, as_of), top_recommendations(wh, as_of),
            forecast(wh, as_of)]
