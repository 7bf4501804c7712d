"""The drift check of one scoring run: `ops.drift_reports`, the HTML reports, the policy's action.

For the family's mart partition D, the model version that wrote it learnt on its run's as-of date
T (the `valueflow.as_of_date` run tag). Inputs: the family's `drift_inputs(T, D)` (its training rows
against D's). Scores: the mart at T against the mart at D when T < D; for a champion trained for D,
the newest earlier partition (the scores marketers saw last). Each comparison is Evidently's drift
preset; its per-column rows replace the (family, D) rows of `ops.drift_reports` in one transaction.
"""
from __future__ import annotations

import datetime as dt
import logging
import math
from pathlib import Path

import pandas as pd

from ml import catalog, registry, run_journal, settings
from ml.drift.compare import DriftResult, compare
from ml.live_outcomes import EPOCH, partition_lineage, scored_dates
from ml.sql import date_literal, newest_per_family_sql, sql_literal
from ml.warehouse import Warehouse

log = logging.getLogger(__name__)

DRIFT_REPORTS = catalog.DRIFT_REPORTS
# The score columns of each family's mart that the check compares: (numeric, categorical).
SCORE_COLUMNS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "segmentation": ((), ("segment_name",)),
    "propensity": (("p_purchase_30d",), ()),
    "recommender": (("score",), ("source",)),
    "customer_value": (("expected_orders_90d", "p_alive", "predicted_clv_365d"), ("value_tier",)),
    "sales_forecast": (("predicted_units",), ()),
}
REPORT_COLUMNS = ("kind", "column_name", "method", "threshold", "drift_score", "drifted", "drift_share",
                  "reference", "reference_as_of", "reference_rows", "current_rows", "action", "reason", "report")


def report_path(family: str, as_of: dt.date, kind: str, home: Path | None = None) -> Path:
    """`<workspace>/reports/drift-<family>-<D>-<inputs|scores>.html` (the ValueFlow view serves it)."""
    return (home or settings.state_dir()) / "reports" / f"drift-{family}-{as_of.isoformat()}-{kind}.html"


def trained_as_of(model_name: str, version: str) -> dt.date:
    """The as-of date of the run that produced the version: the history it learnt from ends there."""
    from mlflow.tracking import MlflowClient

    from ml import tracking

    tracking.configure()
    client = MlflowClient()
    model = client.get_model_version(model_name, version)
    day = client.get_run(model.run_id).data.tags.get(registry.AS_OF_TAG) or model.tags.get(registry.DECIDED_AS_OF_TAG)
    if not day:
        raise ValueError(f"{model_name} version {version} (run {model.run_id}) has no {registry.AS_OF_TAG} tag: "
                         "the date its training data ends is unknown")
    return dt.date.fromisoformat(day[:10])


def score_reference_date(wh: Warehouse, mart: str, trained: dt.date, as_of: dt.date) -> dt.date | None:
    dates = scored_dates(wh, mart)
    if trained < as_of and trained in dates:
        return trained
    earlier = [d for d in dates if d < as_of]
    return max(earlier) if earlier else None


def _read_scores(wh: Warehouse, mart: str, day: dt.date, columns: list[str]) -> pd.DataFrame:
    return wh.query(f"SELECT {', '.join(columns)} FROM {mart} WHERE as_of_date = {date_literal(day)}")


def challenger_tried(wh: Warehouse, model_name: str, as_of: dt.date) -> bool:
    """Whether a champion/challenger decision was already made for D (so a retrain would repeat it)."""
    return wh.table_exists(catalog.MODEL_PROMOTIONS) and bool(wh.row_count(
        catalog.MODEL_PROMOTIONS, f"model_name = {sql_literal(model_name)} AND as_of_date = {date_literal(as_of)}"))


def decide(policy, inputs: DriftResult, scores: DriftResult | None, trained: dt.date, as_of: dt.date,
           tried: bool) -> tuple[str, str]:
    """The policy's action, kept from repeating what cannot help: a champion trained for D already
    learnt from everything before D, and a challenger trained for D and refused would be trained again."""
    scores_drifted = scores is not None and bool(scores.columns["drifted"].any())
    action, reason = policy.action(inputs.share, scores_drifted)
    if action == "retrain" and trained >= as_of:
        return "warn", f"{reason}; the champion was trained for {as_of} already, so retraining would repeat it"
    if action == "retrain" and tried:
        return "warn", f"{reason}; a challenger was already trained and judged for {as_of}, so no retrain is requested"
    return action, reason


def report_rows(kind: str, result: DriftResult, reference: str, reference_as_of: dt.date, action: str,
                reason: str, report: Path) -> pd.DataFrame:
    frame = result.columns.assign(kind=kind, drift_share=result.share, reference=reference,
                                  reference_as_of=reference_as_of, reference_rows=result.reference_rows,
                                  current_rows=result.current_rows, action=action, reason=reason, report=str(report))
    return frame[list(REPORT_COLUMNS)]


def check_drift(wh: Warehouse, name: str, as_of: dt.date, log_to_mlflow: bool = True,
                home: Path | None = None) -> dict:
    """Compare, decide, write `ops.drift_reports` and the reports; returns the action, never data."""
    from ml.families import load_family
    from ml.promotion import load_policy

    family = load_family(name)
    if family.drift_inputs is None:
        raise ValueError(f"{name} says nothing about its drift inputs (ModelFamily.drift_inputs)")
    if as_of not in scored_dates(wh, family.mart):
        raise ValueError(f"{family.mart} has no rows for {as_of}: score it before checking its drift")
    lineage = partition_lineage(wh, family.mart, as_of)
    trained = trained_as_of(lineage["model_name"], lineage["model_version"])
    frames = family.drift_inputs(wh, trained, as_of)
    inputs = compare(frames.reference, frames.current, frames.numeric, frames.categorical)
    numeric, categorical = SCORE_COLUMNS[name]
    score_day = score_reference_date(wh, family.mart, trained, as_of)
    scores = None
    if score_day is not None:
        columns = [*numeric, *categorical]
        scores = compare(_read_scores(wh, family.mart, score_day, columns), _read_scores(wh, family.mart, as_of, columns),
                         list(numeric), list(categorical))
    action, reason = decide(load_policy(name).drift, inputs, scores, trained, as_of,
                            challenger_tried(wh, lineage["model_name"], as_of))
    paths = {"inputs": report_path(name, as_of, "inputs", home), "scores": report_path(name, as_of, "scores", home)}
    parts = [report_rows("input", inputs, frames.reference_note, trained, action, reason, paths["inputs"])]
    inputs.save_html(paths["inputs"])
    if scores is not None:
        parts.append(report_rows("score", scores, f"{family.mart} for {score_day}", score_day, action, reason,
                                 paths["scores"]))
        scores.save_html(paths["scores"])
    rows = pd.concat(parts, ignore_index=True).assign(
        family=name, as_of_date=as_of, model_name=lineage["model_name"], model_version=lineage["model_version"],
        run_id=lineage["run_id"], checked_at=pd.Timestamp.now(tz="UTC").tz_localize(None))
    for column in ("kind", "column_name", "method", "reference", "action", "reason", "report", "family",
                   "model_name", "model_version", "run_id"):
        rows[column] = rows[column].astype("string")
    wh.replace_partition(DRIFT_REPORTS, rows, {"family": name, "as_of_date": as_of})
    if log_to_mlflow and lineage["run_id"]:
        _log_to_run(lineage["run_id"], as_of, inputs, scores, [p for p in paths.values() if p.exists()])
    drifted = inputs.columns.loc[inputs.columns["drifted"], "column_name"].tolist()
    message = (f"{name} {as_of}: {len(drifted)} of {len(inputs.columns)} inputs drifted from the training data "
               f"of version {lineage['model_version']} ({trained})" + (f": {', '.join(drifted[:8])}" if drifted else "")
               + f"; action {action}: {reason}")
    (log.warning if action != "none" else log.info)(message)
    return {"table": DRIFT_REPORTS, "family": name, "as_of": as_of.isoformat(), "action": action, "reason": reason,
            "input_drift_share": None if math.isnan(inputs.share) else inputs.share,
            "report": str(paths["inputs"]), "model_version": lineage["model_version"]}


def _log_to_run(run_id: str, as_of: dt.date, inputs: DriftResult, scores: DriftResult | None, paths) -> None:
    """The reports as artifacts of the scoring version's run (drift/), and the shares as metrics."""
    from mlflow.tracking import MlflowClient

    from ml import tracking

    tracking.configure()
    client = MlflowClient()
    step = (as_of - EPOCH).days
    stamp = int(pd.Timestamp(as_of).timestamp() * 1000)
    for key, result in (("drift.input_share", inputs), ("drift.score_share", scores)):
        if result is not None and not math.isnan(result.share):
            client.log_metric(run_id, key, result.share, timestamp=stamp, step=step)
    for path in paths:
        client.log_artifact(run_id, str(path), artifact_path="drift")


def latest_warnings(wh: Warehouse) -> pd.DataFrame:
    """Per family, its newest checked date's action when it is not "none" (what `ml status` shows)."""
    if not wh.table_exists(DRIFT_REPORTS):
        return pd.DataFrame(columns=["family", "as_of_date", "model_version", "action", "reason"])
    rows = wh.query(newest_per_family_sql(DRIFT_REPORTS, "DISTINCT t.family, t.model_version, t.action, t.reason",
                                          "t.action <> 'none'"))
    return rows.rename(columns={"day": "as_of_date"})[["family", "as_of_date", "model_version", "action", "reason"]]


def run_check_drift(name: str, requested_as_of: str | None) -> dict:
    """Task body for the score DAGs: the check of the date just scored; returns the action."""
    from ml.orchestration import resolve_as_of
    from ml.warehouse import connect

    with connect() as wh:
        result = check_drift(wh, name, resolve_as_of(wh, requested_as_of))
    run_journal.changed(f"check_{name}_drift", f"{DRIFT_REPORTS} for {result['as_of']}: {result['action']} "
                                               f"({result['reason']})")
    return result
