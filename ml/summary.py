"""The summary printed after a run: where things are, what the marts hold, which models are champions."""
from __future__ import annotations

from ml import catalog, settings
from ml.families import FAMILY_NAMES


def latest_run_as_of(wh) -> str | None:
    """The as-of date of the export published last (not the largest date: an older export may come later)."""
    if not wh.table_exists(catalog.INGEST_RUNS):
        return None
    latest = wh.scalar(f"SELECT CAST(as_of_date AS VARCHAR) FROM {catalog.INGEST_RUNS} "
                       "ORDER BY published_at DESC LIMIT 1")
    return None if latest is None else str(latest)[:10]


def other_export_note(wh, source: str) -> str | None:
    """A warning when the export this workspace published last came from another file: another shop
    belongs in its own workspace, since a workspace has one set of raw tables and one set of champions."""
    if not wh.table_exists(catalog.INGEST_RUNS):
        return None
    last = wh.query(f"SELECT source, CAST(as_of_date AS VARCHAR) AS as_of FROM {catalog.INGEST_RUNS} "
                    "ORDER BY published_at DESC LIMIT 1")
    if last.empty or last["source"].iloc[0] == source:
        return None
    return (f"note: this workspace ({settings.state_dir()}) holds the export {last['source'].iloc[0]} (as of "
            f"{str(last['as_of'].iloc[0])[:10]}); this run replaces its raw tables with {source}, and its models "
            "compete with that export's champions. If it is another shop, stop and run it with its own "
            "--workspace DIR; a later export of the same shop belongs here.")


def summary() -> str:
    """Where everything is, and for the as-of date of the last published export: each mart's rows
    and the model that serves that date (the champion, or the one chosen for a past date)."""
    import pandas as pd

    from ml import live_outcomes, registry
    from ml.drift.check import latest_warnings
    from ml.report.page import report_path
    from ml.sql import date_literal
    from ml.warehouse import connect

    home = settings.state_dir()
    lines = ["", "== ValueFlow", f"warehouse     {settings.warehouse_url()}",
             f"MLflow store  {settings.mlflow_tracking_uri()}  (artifacts {settings.mlflow_artifact_root()})",
             f"Data Docs     {settings.data_docs_dir() / 'gx' / 'uncommitted' / 'data_docs' / 'local_site' / 'index.html'}",
             f"Airflow home  {home / 'airflow'}  (task logs in {home / 'airflow' / 'logs'})", ""]
    with connect() as wh:
        as_of = latest_run_as_of(wh)
        lines.append(f"marts for {as_of} (the last export's as-of date):" if as_of else "marts:")
        tables = wh.query("SELECT table_schema || '.' || table_name AS t FROM information_schema.tables "
                          "WHERE table_schema = 'marts' ORDER BY 1")["t"].tolist()
        for table in tables:
            # outcomes are of past scores: their newest evaluated date, not the export's (never evaluated yet)
            latest = table == catalog.MODEL_OUTCOMES or not as_of
            day = f"(SELECT max(as_of_date) FROM {table})" if latest else date_literal(as_of)
            rows = wh.row_count(table, f"as_of_date = {day}")
            shown = str(wh.scalar(f"SELECT max(as_of_date) FROM {table}"))[:10] if latest else as_of
            what = "rows for the scores of" if table == catalog.MODEL_OUTCOMES else "rows as of"
            lines.append(f"  {table:<34} {rows:>8} {what} {shown}")
        decisions = wh.query("SELECT model_name, decision, reason FROM ops.model_promotions ORDER BY decided_at") \
            if wh.table_exists(catalog.MODEL_PROMOTIONS) else None
        flags = live_outcomes.latest_flags(wh)
        drifts = latest_warnings(wh)
    if as_of and (report := report_path(pd.Timestamp(as_of).date())).exists():
        lines.append(f"marketing report for {as_of}: {report}")
    lines.append(f"models serving {as_of}:" if as_of else "champions:")
    for name in FAMILY_NAMES:
        champion = registry.get_alias(name, registry.CHAMPION)
        serving = registry.champion_at(name, as_of) if as_of and champion else champion
        if serving:
            kind = f", {serving.kind}" if serving.kind else ""
            newer = (f"; champion for later dates: version {champion.version}"
                     if champion and champion.version != serving.version else "")
            lines.append(f"  {name:<20} version {serving.version}{kind} (run {serving.run_id}){newer}")
            continue
        last = None if decisions is None else decisions[decisions["model_name"] == name].tail(1)
        why = f": last challenger {last['decision'].iat[0]} ({last['reason'].iat[0]})" if last is not None and len(last) else ""
        lines.append(f"  {name:<20} none yet{why}")
    for flag in flags.itertuples():
        lines.append(f"  FLAGGED {flag.family}: its scores of {flag.as_of_date[:10]} (version {flag.model_version}) "
                     f"did worse than the policy's live floor: {flag.note}")
    for drift in drifts.itertuples():
        what = "a retrain was requested" if drift.action == "retrain" else "warning"
        lines.append(f"  DRIFT {drift.family}: scoring {drift.as_of_date[:10]} (version {drift.model_version}), "
                     f"{what}: {drift.reason} (ops.drift_reports)")
    lines += ["", "open the UIs:",
              f"  MLflow:  .venv/bin/mlflow ui --backend-store-uri {settings.mlflow_tracking_uri()} "
              "--host 127.0.0.1 --port 5000",
              f"  Airflow: AIRFLOW_HOME={home / 'airflow'} AIRFLOW__CORE__DAGS_FOLDER=$PWD/dags PYTHONPATH=$PWD "
              f"AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS=True .venv/bin/airflow api-server --host 127.0.0.1 "
              "--port 8080",
              "           (then http://localhost:8080: the DAGs, their runs and task logs of this demo; everyone who"
              " reaches it is admin, so it listens on this machine only)"]
    return "\n".join(lines)
