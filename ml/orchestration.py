"""Task bodies for the DAGs: each opens the warehouse, calls one step, and returns a reference.

Plain functions (no Airflow import), so the DAG files stay thin and every step can be run and tested
without a scheduler. Return values are small dicts of names, dates and ids: XCom never carries data.
"""
from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

import pandas as pd

from ml import catalog, features, ingest, promotion, registry, run_journal, settings, validation
from ml.families import load_family
from ml.sql import date_literal
from ml.warehouse import Warehouse, connect

log = logging.getLogger(__name__)
INGEST_RUNS = catalog.INGEST_RUNS
# Runs whose as-of date is their schedule's, not the export's (Airflow's DagRunType values).
SCHEDULED_RUN_TYPES = ("scheduled", "backfill")
STALE_EXPORT_DAYS = 14


class NoChampion(LookupError):
    """A family has no champion yet: no challenger has won by its policy, so there is nothing to score with."""


# What the same input raises again on every retry: bad data, a bad setting, a model that cannot be
# fitted on this history. Connection, lock and I/O errors (psycopg, duckdb, MLflow, OSError) are
# none of these, so they keep their retries.
PERMANENT_ERRORS = (ValueError, LookupError, TypeError, ArithmeticError)


@contextmanager
def fail_fast() -> Iterator[None]:
    """Inside an Airflow task: an error a retry cannot mend fails the task at once (no retries,
    two minutes apart, of the same failure), with its type and message; NoChampion passes through."""
    try:
        yield
    except NoChampion:
        raise
    except PERMANENT_ERRORS as error:
        from airflow.sdk.exceptions import AirflowFailException

        raise AirflowFailException(f"{type(error).__name__}: {error}") from error


def parse_date(value: str | dt.date | None) -> dt.date | None:
    if value in (None, "", "None"):
        return None
    if isinstance(value, dt.date):
        return value
    text = str(value).strip()
    try:  # a date, or a timestamp read back from XCom or the warehouse ("2025-12-01 00:00:00"); no junk
        return dt.date.fromisoformat(text) if len(text) <= 10 else dt.datetime.fromisoformat(text).date()
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


def schedule_as_of(run_type: str | None, data_interval_end, logical_date=None) -> dt.date | None:
    """The as-of date a scheduled or backfilled run stands for: the end of its data interval.

    Manual and asset-triggered runs have no such date (None): they take the conf's or the export's.
    """
    kind = str(getattr(run_type, "value", run_type) or "").lower()
    if kind not in SCHEDULED_RUN_TYPES:
        return None
    moment = data_interval_end or logical_date
    if moment is None:
        raise ValueError(f"a {kind} run without a data interval or logical date has no as-of date")
    stamp = pd.Timestamp(moment)
    return (stamp.tz_convert("UTC") if stamp.tzinfo else stamp).date()


def stage_export(source: str, requested_as_of: str | None, scheduled_as_of: dt.date | None = None,
                 today: dt.date | None = None, encoding: str | None = None, repeated_lines: str | None = None) -> dict:
    """Stage the export and settle the run's as-of date: the conf's, else the schedule's, else the export's.

    `orders_before` is what validation holds every order line to. A scheduled or backfilled run
    stands for a date that may lie before the export's end (a backfill re-reads today's export for
    a past week); its features, training and marts are point in time, so later orders are not an
    error there, only orders dated after the day the run reads them.
    """
    requested = parse_date(requested_as_of)  # a malformed date or encoding fails before a row is read
    ingest.check_encoding(encoding)
    repeated_lines = repeated_lines or settings.repeated_lines_policy()
    with connect() as wh:
        staged = ingest.stage_source(wh, Path(source), encoding, repeated_lines)
        if staged.last_order_ts is not None:
            _check_customers(wh, source, requested or scheduled_as_of or ingest.default_as_of(staged.last_order_ts))
    if staged.last_order_ts is None:
        raise ingest.SourceError(f"{source}: no order line has a readable date")
    export_as_of = ingest.default_as_of(staged.last_order_ts)
    if requested is not None:
        as_of, origin, orders_before = requested, "conf", requested
    elif scheduled_as_of is not None:
        as_of, origin = scheduled_as_of, "schedule"
        orders_before = max(scheduled_as_of, (today or dt.date.today()) + dt.timedelta(days=1))
        if (as_of - export_as_of).days > STALE_EXPORT_DAYS:
            log.warning("%s ends on %s, %d days before this run's as-of date %s: is the inbox stale?",
                        source, export_as_of - dt.timedelta(days=1), (as_of - export_as_of).days, as_of)
    else:
        today = today or dt.date.today()
        if export_as_of > today + dt.timedelta(days=1):
            # The default as-of is the day after the last order, so a future-dated row would move the
            # whole run into the future and no "order on or after the as-of" check could catch it.
            raise ingest.SourceError(
                f"{source}: its last order line is dated {staged.last_order_ts}, after today ({today}); "
                "future-dated rows would move the run's as-of date there. Fix the export's dates, or pass "
                "--as-of to say which date the run stands for (later rows are then reported by validation)")
        as_of, origin, orders_before = export_as_of, "export", export_as_of
    return {"source": str(source), "as_of": as_of.isoformat(), "as_of_from": origin,
            "orders_before": orders_before.isoformat(), "staged_rows": staged.rows,
            "repeated_lines": staged.repeated_lines, "repeated_lines_dropped": staged.repeated_lines_dropped,
            "repeated_lines_policy": repeated_lines}


def _check_customers(wh: Warehouse, source: str, as_of: dt.date) -> None:
    """Too small a shop is refused before it replaces anything, not by a family's training after."""
    customers = int(wh.scalar("SELECT count(DISTINCT customer_id) FROM raw.stage_order_lines WHERE invoice_ts < "
                              f"{date_literal(as_of)} AND customer_id IS NOT NULL") or 0)
    if customers < settings.min_customers():
        raise ingest.SourceError(
            f"{source}: only {customers} identified customer(s) ordered before {as_of}; segments, propensity, value "
            f"and recommendations need at least {settings.min_customers()} (VALUEFLOW_MIN_CUSTOMERS)")


def validate_export(as_of: str, run_id: str, orders_before: str | None = None, no_repeats: bool = False) -> dict:
    with connect() as wh:
        try:
            outcomes = validation.validate_staged(wh, parse_date(as_of), run_id, orders_before=parse_date(orders_before),
                                                  no_repeats=no_repeats)
        except validation.ValidationFailed:
            run_journal.changed("validate_order_lines", f"{catalog.VALIDATION_RESULTS}: the failed checks of this export")
            raise
    return {"as_of": as_of, "suites": [o.suite for o in outcomes],
            "data_docs": next((o.data_docs for o in outcomes if o.data_docs), None)}


def publish_export(source: str, as_of: str, run_id: str, repeated_lines: int = 0,
                   repeated_lines_dropped: int = 0) -> dict:
    with connect() as wh, wh.transaction():
        published = ingest.publish_staged(wh)
        record = pd.DataFrame([{"run_id": run_id, "source": source, "as_of_date": parse_date(as_of),
                                "order_lines": published.get("order_lines", 0),
                                "tables": ",".join(sorted(published)),
                                "published_at": pd.Timestamp.now(tz="UTC").tz_localize(None),
                                "repeated_lines": int(repeated_lines),
                                "repeated_lines_dropped": int(repeated_lines_dropped)}])
        wh.add_missing_columns(INGEST_RUNS, {"repeated_lines": "BIGINT", "repeated_lines_dropped": "BIGINT"})
        wh.replace_partition(INGEST_RUNS, record, {"run_id": run_id})
    tables = [f"raw.{name}" for name in published]
    repeats = (f"; {repeated_lines} exactly repeated line(s), {repeated_lines_dropped} dropped"
               if repeated_lines else "")
    run_journal.changed("publish_raw_tables", f"{', '.join(tables)} replaced by {source} "
                        f"({published.get('order_lines', 0)} order lines{repeats}); {INGEST_RUNS} records it for {as_of}")
    return {"as_of": as_of, "tables": tables}


def as_of_from_events(triggering_events: Mapping[object, Iterable] | None) -> str | None:
    """The as-of date carried by the Asset events that started a run (the latest, if several).

    Several events reach one run when upstream runs finish faster than this DAG (a backfill): the
    run works on the newest date and names the others in its log.
    """
    found = set()
    for events in (triggering_events or {}).values():
        for event in events:
            value = parse_date((getattr(event, "extra", None) or {}).get("as_of"))
            if value is not None:
                found.add(value)
    if not found:
        return None
    latest = max(found)
    if len(found) > 1:
        log.warning("triggered by events for several as-of dates %s: working on %s",
                    sorted(d.isoformat() for d in found), latest)
    return latest.isoformat()


def requested_as_of(params_as_of: str | None, triggering_events=None) -> str | None:
    """A run's as-of date: the conf's, else its triggering events', else None (the latest export's)."""
    return params_as_of if parse_date(params_as_of) is not None else as_of_from_events(triggering_events)


def context_as_of(context: Mapping) -> str | None:
    """`requested_as_of` from an Airflow task context (its params and triggering Asset events)."""
    return requested_as_of(context["params"].get("as_of"), context.get("triggering_asset_events"))


def build_user_features(as_of: str) -> dict:
    with connect() as wh:
        rows = features.build_user_features(wh, parse_date(as_of))
    run_journal.changed("build_user_features", f"{features.USER_FEATURES} for {as_of} ({rows} customers)")
    return {"table": features.USER_FEATURES, "as_of": as_of, "rows": rows}


def build_family_features(name: str, requested_as_of: str | None) -> dict:
    with connect() as wh:
        as_of = resolve_as_of(wh, requested_as_of)
        tables = load_family(name).build_features(wh, as_of)
    run_journal.changed(f"build_{name}_features", f"{', '.join(tables)} for {as_of}")
    return {"as_of": as_of.isoformat(), "tables": tables}


def train_family(name: str, as_of: str) -> dict:
    with connect() as wh:
        ref = load_family(name).train(wh, parse_date(as_of))
    run_journal.changed(f"train_{name}", f"MLflow: challenger {ref.name} version {ref.version} (run {ref.run_id})")
    return {"as_of": as_of, "model": ref.name, "version": ref.version, "run_id": ref.run_id}


def promote_family(name: str, as_of: str, pipeline_run_id: str) -> dict:
    with connect() as wh:
        decision = promotion.promote_challenger(wh, load_family(name), parse_date(as_of), pipeline_run_id)
    champion = registry.get_alias(name, registry.CHAMPION)
    verdict = f"{name}@champion is now version {champion.version}" if decision.promote and champion else \
        f"{name}@champion unchanged"
    run_journal.changed(f"promote_{name}", f"{catalog.MODEL_PROMOTIONS}: {name}'s decision for {as_of} "
                        f"({decision.reason[:160]}); {verdict}")
    return {"as_of": as_of, "model": name, "promoted": decision.promote, "reason": decision.reason,
            "champion_version": champion.version if champion else None}


def score_family(name: str, requested_as_of: str | None) -> dict:
    family = load_family(name)
    with connect() as wh:
        as_of = resolve_as_of(wh, requested_as_of)
        champion = registry.champion_at(name, as_of.isoformat())
        if champion is None:
            if registry.get_alias(name, registry.CHAMPION) is None:
                raise NoChampion(f"{name} has no champion yet, so {family.mart} was left as it was: no challenger "
                                 f"has won by config/policies/{name}.yaml (see ops.model_promotions for the reasons)")
            raise NoChampion(f"{name} had no champion on {as_of} (its champions were all chosen later, from orders "
                             f"after that date), so {family.mart} for {as_of} was left as it was")
        if not wh.table_exists(features.USER_FEATURES) or not wh.row_count(
                features.USER_FEATURES, f"as_of_date = {date_literal(as_of)}"):
            family.build_features(wh, as_of)
        rows = family.score(wh, as_of, champion)
    run_journal.changed(f"score_{name}", f"{family.mart} for {as_of} ({rows} rows, {name} version {champion.version})")
    return {"table": family.mart, "as_of": as_of.isoformat(), "rows": rows,
            "model_version": champion.version, "run_id": champion.run_id}
