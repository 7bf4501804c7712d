"""Evidently's data-drift preset on a reference and a current frame, read back as plain rows."""
from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

# Drift is a property of distributions: past this many rows a seeded sample tells the same and keeps a
# 1M-customer shop's check in seconds.
SAMPLE_ROWS = 20_000
SAMPLE_SEED = 0


def hash_sample_sql(key_sql: str, rows: int, keep: int = SAMPLE_ROWS) -> str:
    """SQL predicate keeping about `keep` of `rows` rows (a little more, `compare` trims), chosen by the
    md5 of `key_sql`: the same rows in DuckDB and PostgreSQL, without reading the rest into memory."""
    if rows <= keep:
        return "TRUE"
    cut = min(16**8 - 1, int(1.2 * keep / rows * 16**8))
    return f"substr(md5({key_sql}), 1, 8) < '{cut:08x}'"


def _evidently():
    """Import Evidently; 0.7.23 imports a pandas helper (`infer_dtype_from_object`) that pandas 3 removed,
    used only by a legacy column-type test we never run, so it is given back with its old meaning."""
    import pandas.core.dtypes.common as common

    if not hasattr(common, "infer_dtype_from_object"):
        common.infer_dtype_from_object = lambda dtype: pd.api.types.pandas_dtype(dtype).type
    import evidently
    from evidently.presets import DataDriftPreset

    return evidently, DataDriftPreset


@dataclass
class DriftResult:
    """Per column: method, threshold, score, drifted; the share of drifted columns; the report."""

    columns: pd.DataFrame  # column_name, method, threshold, drift_score, drifted
    share: float
    reference_rows: int
    current_rows: int
    snapshot: object = None  # Evidently's Snapshot, for `save_html`

    def save_html(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(path.name + ".partial")
        self.snapshot.save_html(str(partial))
        partial.replace(path)  # a reader never sees half a report


def _sample(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.sample(SAMPLE_ROWS, random_state=SAMPLE_SEED) if len(frame) > SAMPLE_ROWS else frame


def compare(reference: pd.DataFrame, current: pd.DataFrame, numeric: list[str],
            categorical: list[str] = ()) -> DriftResult:
    """Evidently picks the test per column by type and size (K-S or Wasserstein for numbers, chi-square
    or Jensen-Shannon for categories; p-values below 0.05 or distances above 0.1 are drift)."""
    evidently, DataDriftPreset = _evidently()
    columns = [*numeric, *categorical]
    missing = [c for c in columns if c not in reference.columns or c not in current.columns]
    if missing:
        raise ValueError(f"drift columns {missing} are missing from the reference or the current frame")
    if reference.empty or current.empty:
        raise ValueError(f"drift needs rows on both sides: reference {len(reference)}, current {len(current)}")
    reference, current = _sample(reference[columns]).copy(), _sample(current[columns]).copy()
    for frame in (reference, current):
        for column in numeric:
            values = pd.to_numeric(frame[column], errors="coerce").astype("float64")
            frame[column] = values.where(values.abs() != float("inf"))
        for column in categorical:
            frame[column] = frame[column].astype(str)
    # a column with no value on one side has no distribution to compare: listed, not tested
    empty = [c for c in columns if reference[c].isna().all() or current[c].isna().all()]
    numeric = [c for c in numeric if c not in empty]
    categorical = [c for c in categorical if c not in empty]
    if not numeric and not categorical:
        raise ValueError(f"every drift column is empty on one side: {empty}")
    kept = [*numeric, *categorical]
    definition = evidently.DataDefinition(numerical_columns=numeric, categorical_columns=categorical)
    with warnings.catch_warnings():  # numpy's divide-by-zero notes on constant columns, not news
        warnings.simplefilter("ignore", RuntimeWarning)
        snapshot = evidently.Report([DataDriftPreset()], include_tests=True).run(
            evidently.Dataset.from_pandas(current[kept].reset_index(drop=True), data_definition=definition),
            evidently.Dataset.from_pandas(reference[kept].reset_index(drop=True), data_definition=definition))
    result = _read(snapshot, len(reference), len(current))
    if empty:
        skipped = pd.DataFrame({"column_name": empty, "method": "not compared: no values on one side",
                                "threshold": math.nan, "drift_score": math.nan, "drifted": False})
        result.columns = pd.concat([result.columns, skipped], ignore_index=True)
    return result


def _read(snapshot, reference_rows: int, current_rows: int) -> DriftResult:
    result = snapshot.dict()
    verdicts = {t["metric_config"]["metric_id"]: t["status"] for t in result["tests"] if t.get("id") == "drift"}
    rows, share = [], math.nan
    for metric in result["metrics"]:
        config = metric["config"]
        if config["type"].endswith("DriftedColumnsCount"):
            share = float(metric["value"]["share"])
        elif config["type"].endswith("ValueDrift"):
            rows.append({"column_name": config["column"], "method": config.get("method"),
                         "threshold": float(config.get("threshold", math.nan)), "drift_score": float(metric["value"]),
                         "drifted": verdicts.get(metric["id"]) == "FAIL"})
    frame = pd.DataFrame(rows, columns=["column_name", "method", "threshold", "drift_score", "drifted"])
    return DriftResult(frame, share, reference_rows, current_rows, snapshot)
