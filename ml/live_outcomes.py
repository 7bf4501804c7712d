"""How the champions' past scores turned out: `marts.model_outcomes`, written by `evaluate_outcomes`.

For every mart partition a family scored for a date D whose horizon has fully passed (the workspace's
latest export reaches D + horizon), the family's `outcomes.py` holds the mart against what customers
and products did in [D, D + horizon), beside the simple baselines fitted on the history before D:
the same numbers `python -m ml evaluate` reports, here on the live workspace (its raw tables hold the
orders after D once a later export is published). Each (family, D) is evaluated once per model
version that scored it; its rows carry that version's lineage, and its metrics are logged on the
version's MLflow run (`live.<metric>`, step = days since 1970), so the MLflow UI shows the version's
live record beside its offline one. A family whose policy's `live` floor is breached is flagged.
"""
from __future__ import annotations

import datetime as dt
import logging
import math

import pandas as pd

from ml import catalog, run_journal
from ml.families import FAMILY_MARTS
from ml.outcomes import Outcome, window_covered
from ml.sql import newest_per_family_sql, sql_literal
from ml.warehouse import Warehouse

log = logging.getLogger(__name__)

OUTCOMES_MART = catalog.MODEL_OUTCOMES
# How long after D its scores are judged (the horizon each mart promises); segments predict nothing.
HORIZON_DAYS = {"propensity": 30, "recommender": 30, "customer_value": 90, "sales_forecast": 28}
EPOCH = dt.date(1970, 1, 1)


def scored_dates(wh: Warehouse, mart: str) -> list[dt.date]:
    if not wh.table_exists(mart):
        return []
    days = wh.query(f"SELECT DISTINCT CAST(as_of_date AS VARCHAR) AS d FROM {mart} ORDER BY 1")["d"]
    return [dt.date.fromisoformat(str(d)[:10]) for d in days]


def partition_lineage(wh: Warehouse, mart: str, as_of: dt.date) -> dict:
    """The model that scored the partition (a partition is written by one version in one replace)."""
    row = wh.query(f"SELECT model_name, model_version, run_id, model_kind FROM {mart} "
                   f"WHERE as_of_date = {sql_literal(as_of)} LIMIT 1").iloc[0]
    return {k: (None if pd.isna(v) else str(v)) for k, v in row.items()}


def already_evaluated(wh: Warehouse) -> set[tuple[str, dt.date, str]]:
    if not wh.table_exists(OUTCOMES_MART):
        return set()
    rows = wh.query(f"SELECT DISTINCT family, CAST(as_of_date AS VARCHAR) AS d, model_version FROM {OUTCOMES_MART}")
    return {(r.family, dt.date.fromisoformat(str(r.d)[:10]), str(r.model_version)) for r in rows.itertuples()}


def due(wh: Warehouse) -> list[tuple[str, str, dt.date]]:
    """(family, mart, D) whose horizon has passed and whose scoring version has no outcomes yet."""
    done = already_evaluated(wh)
    found = []
    for family, mart in FAMILY_MARTS:
        horizon = HORIZON_DAYS.get(family)
        if horizon is None:
            continue
        for as_of in scored_dates(wh, mart):
            if window_covered(wh, as_of, horizon) and (family, as_of, partition_lineage(wh, mart, as_of)["model_version"]) not in done:
                found.append((family, mart, as_of))
    return found


def outcome_rows(family: str, lineage: dict, as_of: dt.date, outcomes: list[Outcome]) -> pd.DataFrame:
    """One row per metric, with the floor of the family's policy checked on its own metric."""
    from ml.promotion import load_policy

    floor = load_policy(family).live
    now = pd.Timestamp.now(tz="UTC").tz_localize(None)
    rows = []
    for outcome in outcomes:
        best = outcome.best_baseline
        breach = floor.breach(outcome.model, best[1] if best else None) if floor and floor.metric == outcome.metric \
            else None
        rows.append({
            "family": family, "metric": outcome.metric, "value": float(outcome.model),
            "best_baseline": best[0] if best else None, "baseline_value": float(best[1]) if best else math.nan,
            "ratio": float(outcome.ratio), "higher_is_better": bool(outcome.higher_is_better), "n": int(outcome.n),
            "below_floor": breach is not None, "note": breach or outcome.note,
            "as_of_date": as_of, "model_name": lineage["model_name"], "model_version": lineage["model_version"],
            "run_id": lineage["run_id"], "model_kind": lineage["model_kind"], "scored_at": now,
        })
    frame = pd.DataFrame(rows)
    for column in ("best_baseline", "note", "model_name", "model_version", "run_id", "model_kind"):
        frame[column] = frame[column].astype("string")
    return frame


def log_live_metrics(rows: pd.DataFrame, as_of: dt.date) -> None:
    """`live.<metric>` (and its ratio to the best baseline) on the scoring version's MLflow run."""
    from mlflow.tracking import MlflowClient

    from ml import tracking

    tracking.configure()
    client = MlflowClient()
    step = (as_of - EPOCH).days
    stamp = int(pd.Timestamp(as_of).timestamp() * 1000)
    for row in rows.itertuples():
        if not row.run_id:
            continue
        for key, value in ((f"live.{row.metric}", row.value), (f"live.{row.metric}.vs_best_baseline", row.ratio)):
            if not math.isnan(value):
                client.log_metric(row.run_id, key, float(value), timestamp=stamp, step=step)


def evaluate_due(wh: Warehouse, log_to_mlflow: bool = True) -> dict:
    """Evaluate every (family, D) that is due; each one's rows replace that (family, D) atomically."""
    from ml.quality import family_outcomes

    evaluated, flagged, failed = [], [], []
    for family, mart, as_of in due(wh):
        lineage = partition_lineage(wh, mart, as_of)
        try:
            measured = family_outcomes(family, wh, wh, as_of)
        except Exception as error:  # the other families are still evaluated; the task fails at the end
            log.exception("measuring %s for %s failed", family, as_of)
            failed.append(f"{family} {as_of}: {type(error).__name__}: {error}")
            continue
        rows = outcome_rows(family, lineage, as_of, measured)
        if rows.empty:
            continue
        wh.replace_partition(OUTCOMES_MART, rows, {"family": family, "as_of_date": as_of})
        if log_to_mlflow:
            log_live_metrics(rows, as_of)
        evaluated.append(f"{family} {as_of} (version {lineage['model_version']})")
        for row in rows[rows["below_floor"]].itertuples():
            flagged.append(f"{family} {as_of}: {row.note}")
            log.warning("%s: the scores of version %s for %s fell below the policy's live floor: %s",
                        family, lineage["model_version"], as_of, row.note)
        log.info("%s %s: %s", family, as_of, ", ".join(f"{r.metric} {r.value:.4g} (best baseline {r.best_baseline} "
                                                       f"{r.baseline_value:.4g})" for r in rows.itertuples()))
    if failed:
        raise RuntimeError(f"outcomes could not be measured for {'; '.join(failed)} (the others were written: "
                           f"{', '.join(evaluated) or 'none'})")
    return {"table": OUTCOMES_MART, "evaluated": evaluated, "flagged": flagged}


def latest_flags(wh: Warehouse) -> pd.DataFrame:
    """Per family, its newest evaluated date's rows that fell below the floor (what `ml status` shows)."""
    if not wh.table_exists(OUTCOMES_MART):
        return pd.DataFrame(columns=["family", "as_of_date", "model_version", "note"])
    rows = wh.query(newest_per_family_sql(OUTCOMES_MART, "t.family, t.model_version, t.note", "t.below_floor"))
    return rows.rename(columns={"day": "as_of_date"})[["family", "as_of_date", "model_version", "note"]]


def run_evaluate_outcomes() -> dict:
    """Task body for dags/evaluate_outcomes.py: returns what was evaluated and flagged, never data."""
    from ml.warehouse import connect

    with connect() as wh:
        result = evaluate_due(wh)
    if result["evaluated"]:
        run_journal.changed("evaluate_outcomes", f"{OUTCOMES_MART}: {'; '.join(result['evaluated'])}")
    else:
        log.info("no scored date has its horizon passed yet (or every one was evaluated already)")
    return result
