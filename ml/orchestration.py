"""Task bodies for the DAGs: each opens the warehouse, calls one step, and returns a reference.

Plain functions (no Airflow import), so the DAG files stay thin and every step can be run and tested
without a scheduler. Return values are small dicts of names, dates and ids: XCom never carries data.
"""
from __future__ import annotations

import datetime as dt
from pathlib import Path

import pandas as pd

from ml import features, ingest, promotion, registry, validation
from ml.families import load_family
from ml.warehouse import Warehouse, connect

INGEST_RUNS = "ops.ingest_runs"


class NoChampion(LookupError):
    """A family has no champion yet: no challenger has won by its policy, so there is nothing to score with."""


def parse_date(value: str | dt.date | None) -> dt.date | None:
    if value in (None, "", "None"):
        return None
    if isinstance(value, dt.date):
        return value
    try:
        return dt.date.fromisoformat(str(value)[:10])
    except ValueError as error:
        raise ValueError(f"as_of must be YYYY-MM-DD, got {value!r}") from error


def resolve_as_of(wh: Warehouse, requested: str | dt.date | None) -> dt.date:
    """The requested as-of date, else the as-of of the latest published export."""
    as_of = parse_date(requested)
    if as_of is not None:
        return as_of
    if wh.table_exists(INGEST_RUNS):
        latest = wh.scalar(f"SELECT max(as_of_date) FROM {INGEST_RUNS}")
        if latest is not None and not pd.isna(latest):
            return pd.Timestamp(latest).date()
    raise LookupError("no as_of given and no export has been published yet; run ingest_orders first")


def stage_export(source: str, requested_as_of: str | None) -> dict:
    with connect() as wh:
        staged = ingest.stage_source(wh, Path(source))
    if staged.last_order_ts is None:
        raise ingest.SourceError(f"{source}: no order line has a readable date")
    as_of = parse_date(requested_as_of) or ingest.default_as_of(staged.last_order_ts)
    return {"source": str(source), "as_of": as_of.isoformat(), "staged_rows": staged.rows}


def validate_export(as_of: str, run_id: str) -> dict:
    with connect() as wh:
        outcomes = validation.validate_staged(wh, parse_date(as_of), run_id)
    return {"as_of": as_of, "suites": [o.suite for o in outcomes],
            "data_docs": next((o.data_docs for o in outcomes if o.data_docs), None)}


def publish_export(source: str, as_of: str, run_id: str) -> dict:
    with connect() as wh:
        with wh.transaction():
            published = ingest.publish_staged(wh)
            record = pd.DataFrame([{"run_id": run_id, "source": source, "as_of_date": parse_date(as_of),
                                    "order_lines": published.get("order_lines", 0),
                                    "tables": ",".join(sorted(published)),
                                    "published_at": pd.Timestamp.now(tz="UTC").tz_localize(None)}])
            wh.replace_partition(INGEST_RUNS, record, {"run_id": run_id})
    return {"as_of": as_of, "tables": [f"raw.{name}" for name in published]}


def build_user_features(as_of: str) -> dict:
    with connect() as wh:
        rows = features.build_user_features(wh, parse_date(as_of))
    return {"table": features.USER_FEATURES, "as_of": as_of, "rows": rows}


def build_family_features(name: str, requested_as_of: str | None) -> dict:
    with connect() as wh:
        as_of = resolve_as_of(wh, requested_as_of)
        tables = load_family(name).build_features(wh, as_of)
    return {"as_of": as_of.isoformat(), "tables": tables}


def train_family(name: str, as_of: str) -> dict:
    with connect() as wh:
        ref = load_family(name).train(wh, parse_date(as_of))
    return {"as_of": as_of, "model": ref.name, "version": ref.version, "run_id": ref.run_id}


def promote_family(name: str, as_of: str, pipeline_run_id: str) -> dict:
    with connect() as wh:
        decision = promotion.promote_challenger(wh, load_family(name), parse_date(as_of), pipeline_run_id)
    champion = registry.get_alias(name, registry.CHAMPION)
    return {"as_of": as_of, "model": name, "promoted": decision.promote, "reason": decision.reason,
            "champion_version": champion.version if champion else None}


def score_family(name: str, requested_as_of: str | None) -> dict:
    family = load_family(name)
    champion = registry.get_alias(name, registry.CHAMPION)
    if champion is None:
        raise NoChampion(f"{name} has no champion yet, so {family.mart} was left as it was: no challenger has "
                         f"won by config/policies/{name}.yaml (see ops.model_promotions for the reasons)")
    with connect() as wh:
        as_of = resolve_as_of(wh, requested_as_of)
        if not wh.table_exists(features.USER_FEATURES) or not wh.row_count(
                features.USER_FEATURES, f"as_of_date = DATE '{as_of.isoformat()}'"):
            family.build_features(wh, as_of)
        rows = family.score(wh, as_of, champion)
    return {"table": family.mart, "as_of": as_of.isoformat(), "rows": rows,
            "model_version": champion.version, "run_id": champion.run_id}
