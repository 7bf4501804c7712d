"""What the ValueFlow view inside Airflow shows: champions, promotion history, marts, validations, reports.

Plain functions over the warehouse and the MLflow registry, each returning a table; `ml.report.view`
renders them and the Airflow plugin serves that page to signed-in users.
"""
from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from ml import catalog
from ml.sql import newest_per_family_sql
from ml.warehouse import Warehouse

SERVING_DECISIONS = ("promoted", "baseline_served", "promoted_for_backfill", "rollback")
HISTORY_ROWS = 40
VALIDATION_ROWS = 10
CHAMPION_METRICS = 6  # the policy's metric first, then the first others the holdout measured


def _promotions(wh: Warehouse) -> pd.DataFrame:
    if not wh.table_exists(catalog.MODEL_PROMOTIONS):
        return pd.DataFrame(columns=["model_name", "challenger_version", "decision"])
    return wh.query(f"SELECT * FROM {catalog.MODEL_PROMOTIONS} ORDER BY decided_at DESC")


def _holdout_metrics(row: pd.Series) -> str:
    """`metric value` pairs the challenger scored on its holdout, the policy's metric first."""
    try:
        measured = json.loads(row.get("metrics") or "{}").get("challenger") or {}
    except ValueError:
        measured = {}
    ordered = [row["metric"], *[k for k in measured if k != row["metric"]]][:CHAMPION_METRICS]
    return ", ".join(f"{k} {measured[k]:.4g}" for k in ordered if isinstance(measured.get(k), (int, float)))


def champions(wh: Warehouse, families: tuple[str, ...] | None = None) -> pd.DataFrame:
    """Per family: the version behind alias `champion`, what it is, the decision that made it champion
    (as-of date, metric, its value against the baseline's on that holdout) and its holdout metrics."""
    from ml import registry
    from ml.families import FAMILY_NAMES

    promotions = _promotions(wh)
    rows = []
    for name in families or FAMILY_NAMES:
        champion = registry.get_alias(name, registry.CHAMPION)
        row = {"family": name, "version": None, "kind": None, "run_id": None, "as_of_date": None, "decision": None,
               "metric": None, "value": None, "baseline_value": None, "holdout_metrics": ""}
        if champion is not None:
            row.update(version=champion.version, kind=champion.kind, run_id=champion.run_id)
            made = promotions[(promotions["model_name"] == name) & (promotions["challenger_version"] == champion.version)
                              & promotions["decision"].isin(SERVING_DECISIONS)]
            if len(made):
                last = made.iloc[0]
                row.update(as_of_date=str(last["as_of_date"])[:10], decision=last["decision"], metric=last["metric"],
                           value=last["challenger_value"], baseline_value=last["baseline_value"],
                           holdout_metrics=_holdout_metrics(last))
        rows.append(row)
    return pd.DataFrame(rows)


def promotion_history(wh: Warehouse, limit: int = HISTORY_ROWS) -> pd.DataFrame:
    """The latest decisions, newest first: who challenged whom, on which metric, by how much, and why."""
    promotions = _promotions(wh).head(limit)
    if promotions.empty:
        return pd.DataFrame(columns=["decided_at", "family", "as_of_date", "decision", "challenger_version",
                                     "champion_version", "metric", "challenger_value", "reference_value", "gain",
                                     "reason", "run_id"])
    from ml.promotion import load_policy

    # the reference is the champion where there was one, else the best baseline; the gain is in the
    # policy's direction (positive: the challenger was better), as the decision's reason states it
    reference = promotions["champion_value"].where(promotions["champion_value"].notna(), promotions["baseline_value"])
    sign = promotions["model_name"].map({name: 1.0 if load_policy(name).direction == "maximize" else -1.0
                                         for name in promotions["model_name"].unique()})
    return pd.DataFrame({
        "decided_at": pd.to_datetime(promotions["decided_at"]).dt.strftime("%Y-%m-%d %H:%M"),
        "family": promotions["model_name"], "as_of_date": promotions["as_of_date"].astype(str).str[:10],
        "decision": promotions["decision"], "challenger_version": promotions["challenger_version"],
        "champion_version": promotions["champion_version"].fillna("–"), "metric": promotions["metric"],
        "challenger_value": promotions["challenger_value"].astype(float), "reference_value": reference.astype(float),
        "gain": (sign * (promotions["challenger_value"] - reference)).astype(float), "reason": promotions["reason"],
        "run_id": promotions["run_id"],
    }).reset_index(drop=True)


def marts(wh: Warehouse) -> pd.DataFrame:
    """Per mart: its newest as-of date, the rows there, when they were written, and how many dates it holds."""
    rows = []
    for table in catalog.MART_COLUMNS:
        if not wh.table_exists(table):
            rows.append({"mart": table, "latest_as_of": "not written yet", "rows": 0, "written_at": "",
                         "as_of_dates": 0})
            continue
        stamp = "max(scored_at)" if "scored_at" in wh.columns(table) else "CAST(NULL AS TIMESTAMP)"
        latest = wh.query(f"SELECT CAST(max(as_of_date) AS VARCHAR) AS latest, count(DISTINCT as_of_date) AS dates "
                          f"FROM {table}").iloc[0]
        if latest["latest"] is None:
            rows.append({"mart": table, "latest_as_of": "empty", "rows": 0, "written_at": "", "as_of_dates": 0})
            continue
        day = str(latest["latest"])[:10]
        counted = wh.query(f"SELECT count(*) AS n, {stamp} AS written FROM {table} WHERE as_of_date = DATE '{day}'").iloc[0]
        written = "" if pd.isna(counted["written"]) else pd.Timestamp(counted["written"]).strftime("%Y-%m-%d %H:%M")
        rows.append({"mart": table, "latest_as_of": day, "rows": int(counted["n"]), "written_at": written,
                     "as_of_dates": int(latest["dates"])})
    return pd.DataFrame(rows)


def validations(wh: Warehouse, limit: int = VALIDATION_ROWS) -> pd.DataFrame:
    """The latest validation results, newest first, with the failed checks' names."""
    columns = ["validated_at", "as_of_date", "suite", "dataset", "result", "evaluated", "failed", "failed_checks",
               "data_docs"]
    if not wh.table_exists(catalog.VALIDATION_RESULTS):
        return pd.DataFrame(columns=columns)
    found = wh.query(f"SELECT * FROM {catalog.VALIDATION_RESULTS} ORDER BY validated_at DESC LIMIT {int(limit)}")

    def names(failures: str) -> str:
        try:
            listed = json.loads(failures or "[]")
        except ValueError:
            return ""
        return ", ".join(str(f.get("expectation", f.get("type", "?"))) for f in listed if isinstance(f, dict))

    return pd.DataFrame({
        "validated_at": pd.to_datetime(found["validated_at"]).dt.strftime("%Y-%m-%d %H:%M"),
        "as_of_date": found["as_of_date"].astype(str).str[:10], "suite": found["suite"], "dataset": found["dataset"],
        "result": found["success"].map({True: "passed", False: "FAILED"}), "evaluated": found["evaluated"].astype("int64"),
        "failed": found["failed"].astype("int64"), "failed_checks": found["failures"].map(names),
        "data_docs": found["data_docs"],
    }, columns=columns)


def live_outcomes(wh: Warehouse) -> pd.DataFrame:
    """Per family, how its newest evaluated scores turned out (`marts.model_outcomes`), metric by metric."""
    columns = ["family", "as_of_date", "model_version", "metric", "value", "best_baseline", "baseline_value",
               "ratio", "n", "verdict"]
    if not wh.table_exists(catalog.MODEL_OUTCOMES):
        return pd.DataFrame(columns=columns)
    rows = wh.query(newest_per_family_sql(catalog.MODEL_OUTCOMES, order="t.family, t.metric"))
    verdict = rows["below_floor"].map({True: "BELOW the live floor", False: "ok"})
    return pd.DataFrame({"family": rows["family"], "as_of_date": rows["day"].str[:10],
                         "model_version": rows["model_version"], "metric": rows["metric"],
                         "value": rows["value"].astype(float), "best_baseline": rows["best_baseline"].fillna("–"),
                         "baseline_value": rows["baseline_value"].astype(float), "ratio": rows["ratio"].astype(float),
                         "n": rows["n"].astype("int64"), "verdict": verdict}, columns=columns)


def campaign_uplift(wh: Warehouse) -> pd.DataFrame:
    """The newest uplift readout (`marts.audience_uplift`), audience by audience."""
    columns = ["as_of_date", "audience", "action", "treated", "control", "treated_conversion", "control_conversion",
               "conversion_uplift", "conversion_uplift_low", "conversion_uplift_high", "revenue_uplift", "powered",
               "note"]
    if not wh.table_exists(catalog.AUDIENCE_UPLIFT):
        return pd.DataFrame(columns=columns)
    rows = wh.query(f"SELECT *, CAST(as_of_date AS VARCHAR) AS day FROM {catalog.AUDIENCE_UPLIFT} WHERE as_of_date = "
                    f"(SELECT max(as_of_date) FROM {catalog.AUDIENCE_UPLIFT}) ORDER BY audience")
    rows["as_of_date"] = rows["day"].str[:10]
    rows["powered"] = rows["powered"].map({True: "yes", False: "no"})
    rows[["treated", "control"]] = rows[["treated", "control"]].astype("int64")
    return rows[columns].fillna({"note": ""})


def drift(wh: Warehouse) -> pd.DataFrame:
    """Per family, its newest drift check (`ops.drift_reports`): inputs and scores, the action, the report."""
    columns = ["family", "as_of_date", "model_version", "kind", "drifted", "compared", "drift_share", "most_drifted",
               "reference", "action", "reason", "report"]
    if not wh.table_exists(catalog.DRIFT_REPORTS):
        return pd.DataFrame(columns=columns)
    rows = wh.query(newest_per_family_sql(catalog.DRIFT_REPORTS, order="t.family, t.kind, t.column_name"))
    # strongest drift first: the smallest p-value, or the largest distance
    p_values = rows["method"].fillna("").str.contains("p_value")
    rows["strength"] = rows["drift_score"].where(~p_values, 1 - rows["drift_score"])
    found = []
    for (family, kind), group in rows.groupby(["family", "kind"], sort=True):
        group = group.sort_values("strength", ascending=False, kind="stable")
        first, drifted = group.iloc[0], group[group["drifted"].astype(bool)]
        found.append({"family": family, "as_of_date": first["day"][:10], "model_version": first["model_version"],
                      "kind": kind, "drifted": len(drifted), "compared": int(group["drift_score"].notna().sum()),
                      "drift_share": float(first["drift_share"]),
                      "most_drifted": ", ".join(drifted["column_name"].head(4)) or "–",
                      "reference": first["reference"], "action": first["action"], "reason": first["reason"],
                      "report": Path(first["report"]).name})
    return pd.DataFrame(found, columns=columns)


def reports(folder: Path) -> list[Path]:
    """The marketer's reports, newest as-of date first."""
    return sorted(folder.glob("marketing-*.html"), reverse=True) if folder.is_dir() else []
