"""Which as-of date a run stands for: the conf's, the schedule's, the export's, or its Asset events'."""
from __future__ import annotations

import datetime as dt
from types import SimpleNamespace

import pendulum
import pytest

from ml import orchestration


@pytest.mark.parametrize("run_type", ["scheduled", "backfill", SimpleNamespace(value="backfill")])
def test_scheduled_and_backfilled_runs_stand_for_the_end_of_their_interval(run_type):
    end = pendulum.datetime(2025, 10, 5, tz="UTC")
    assert orchestration.schedule_as_of(run_type, end, end - dt.timedelta(days=7)) == dt.date(2025, 10, 5)


def test_the_interval_end_is_read_in_utc():
    late_evening_in_new_york = pendulum.datetime(2025, 10, 4, 22, tz="America/New_York")  # 02:00 UTC on the 5th
    assert orchestration.schedule_as_of("scheduled", late_evening_in_new_york) == dt.date(2025, 10, 5)


def test_without_an_interval_the_logical_date_is_used():
    assert orchestration.schedule_as_of("backfill", None, pendulum.datetime(2025, 3, 2, tz="UTC")) == dt.date(2025, 3, 2)


@pytest.mark.parametrize("run_type", ["manual", "asset_triggered", None])
def test_manual_and_asset_triggered_runs_have_no_schedule_date(run_type):
    assert orchestration.schedule_as_of(run_type, pendulum.datetime(2025, 10, 5, tz="UTC")) is None


def events(*extras):
    return [SimpleNamespace(extra=extra) for extra in extras]


def test_the_latest_as_of_among_the_triggering_events_is_taken(caplog):
    triggering = {"features": events({"as_of": "2025-10-05"}, {"as_of": "2025-10-12"}),
                  "models": events({}, {"as_of": "2025-09-28", "promoted": False})}
    assert orchestration.as_of_from_events(triggering) == "2025-10-12"
    assert "several as-of dates ['2025-09-28', '2025-10-05', '2025-10-12']" in caplog.text


def test_events_without_an_as_of_leave_it_to_the_latest_export():
    assert orchestration.as_of_from_events({"features": events({}, None)}) is None
    assert orchestration.as_of_from_events(None) is None


def test_the_conf_wins_over_the_events():
    triggering = {"features": events({"as_of": "2025-10-12"})}
    assert orchestration.requested_as_of("2025-01-06", triggering) == "2025-01-06"
    assert orchestration.requested_as_of(None, triggering) == "2025-10-12"
    assert orchestration.requested_as_of("", {}) is None


def test_a_malformed_as_of_in_an_event_is_an_error_naming_it():
    with pytest.raises(ValueError, match="as_of must be YYYY-MM-DD, got '12/10/2025'"):
        orchestration.as_of_from_events({"features": events({"as_of": "12/10/2025"})})


def _run_dags_module():
    import importlib.util

    spec = importlib.util.spec_from_file_location("run_dags", "tools/run_dags.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_every_dag_after_ingest_gets_the_ingest_as_of_unless_its_conf_names_one(capsys):
    run_dags = _run_dags_module()
    confs = {"ingest_orders": {"source": "x", "as_of": None}, "train_segmentation": {"as_of": None},
             "score_segmentation": {"as_of": "2011-06-01"}}
    run_dags.pin_as_of(confs, ["ingest_orders", "train_segmentation", "score_segmentation", "build_audiences"],
                       "2011-09-01")
    assert confs["train_segmentation"]["as_of"] == "2011-09-01"
    assert confs["score_segmentation"]["as_of"] == "2011-06-01"  # asked for by name: kept
    assert confs["build_audiences"]["as_of"] == "2011-09-01"
    assert confs["ingest_orders"]["as_of"] is None
    assert "as-of date of this run: 2011-09-01" in capsys.readouterr().out


def test_errors_a_retry_cannot_mend_fail_the_task_at_once_and_transient_ones_keep_their_retries():
    import duckdb
    import pytest
    from airflow.sdk.exceptions import AirflowFailException

    from ml import orchestration

    for permanent in (ValueError("no active customer as of 2025-12-01"), KeyError("recency_days"),
                      ZeroDivisionError("division by zero")):
        with pytest.raises(AirflowFailException, match=type(permanent).__name__):
            with orchestration.fail_fast():
                raise permanent
    from ml.tracking import TrackingUnavailable

    for transient in (OSError("disk"), duckdb.IOException("Could not set lock on file"), ConnectionError("mlflow"),
                      TrackingUnavailable("MLflow tracking store http://mlflow:5000 is not reachable")):
        with pytest.raises(type(transient)):
            with orchestration.fail_fast():
                raise transient
    with pytest.raises(orchestration.NoChampion):  # the score DAG skips on it: not a failure
        with orchestration.fail_fast():
            raise orchestration.NoChampion("no champion yet")


def test_an_as_of_with_trailing_junk_or_slashes_is_refused_and_timestamps_read_back_are_dates():
    import datetime as dt

    import pytest

    from ml.orchestration import parse_date

    for bad in ("2011-12-01xyz", "2011/12/01", "01-12-2011", "2011-13-01"):
        with pytest.raises(ValueError, match="as_of must be YYYY-MM-DD"):
            parse_date(bad)
    for good in ("2011-12-01", "2011-12-01 00:00:00", "2011-12-01T00:00:00+00:00", dt.date(2011, 12, 1)):
        assert parse_date(good) == dt.date(2011, 12, 1)


def test_ml_run_refuses_a_malformed_as_of_before_anything_starts(capsys, tmp_path):
    from ml.__main__ import main

    assert main(["run", "--source", str(tmp_path / "nothing.csv"), "--as-of", "2011/12/01"]) == 2
    assert "--as-of: as_of must be YYYY-MM-DD, got '2011/12/01'" in capsys.readouterr().err


def test_a_second_run_on_a_busy_workspace_stops_at_once_naming_the_first(state_home, tmp_path, capsys):
    from ml import pipeline
    from ml.__main__ import main

    with pipeline.workspace_lock(state_home):
        assert main(["run", "--source", str(tmp_path / "export.csv")]) == 3
        assert f"another run is using {state_home} (pid " in capsys.readouterr().err
    with pipeline.workspace_lock(state_home):  # released when the first run ends
        pass


def test_the_printed_ui_hints_listen_on_this_machine_only(state_home):
    from ml import summary

    text = summary.summary()
    hints = [line for line in text.splitlines() if "mlflow ui" in line or "airflow api-server" in line]
    assert len(hints) == 2 and all("--host 127.0.0.1" in line for line in hints)


def test_the_summary_shows_the_marts_of_the_export_published_last_not_the_newest_date(warehouse):
    import pandas as pd

    from ml import summary

    runs = pd.DataFrame({"run_id": ["demo", "retail"], "source": ["demo", "retail.xlsx"],
                         "as_of_date": [pd.Timestamp("2025-12-01").date(), pd.Timestamp("2011-12-10").date()],
                         "order_lines": [10, 20], "tables": ["order_lines", "order_lines"],
                         "published_at": [pd.Timestamp("2026-12-01 10:00"), pd.Timestamp("2026-12-01 11:00")]})
    warehouse.replace_partition("ops.ingest_runs", runs, {"run_id": "demo"})
    warehouse.replace_partition("marts.user_segments", pd.DataFrame({
        "customer_id": ["a", "b", "c"], "segment_id": [1, 1, 2],
        "as_of_date": [pd.Timestamp(d).date() for d in ("2025-12-01", "2025-12-01", "2011-12-10")]}),
        {"customer_id": "a"})
    text = summary.summary()
    assert "marts for 2011-12-10 (the last export's as-of date):" in text
    import re

    assert re.search(r"marts\.user_segments +1 rows as of 2011-12-10", text), text


def test_a_run_of_another_file_into_a_workspace_that_holds_an_export_says_so(warehouse):
    import pandas as pd

    from ml import summary

    assert summary.other_export_note(warehouse, "/shops/retail.xlsx") is None  # an empty workspace
    runs = pd.DataFrame({"run_id": ["demo", "retail"], "source": ["/var/demo_shop", "/shops/retail.xlsx"],
                         "as_of_date": [pd.Timestamp("2025-12-01").date(), pd.Timestamp("2011-12-10").date()],
                         "order_lines": [10, 20], "tables": ["order_lines", "order_lines"],
                         "published_at": [pd.Timestamp("2026-12-01 10:00"), pd.Timestamp("2026-12-01 11:00")]})
    warehouse.replace_partition("ops.ingest_runs", runs, {"run_id": "demo"})
    assert summary.other_export_note(warehouse, "/shops/retail.xlsx") is None  # the file published last
    note = summary.other_export_note(warehouse, "/var/demo_shop")
    assert note.startswith("note: this workspace (") and "holds the export /shops/retail.xlsx (as of 2011-12-10)" in note
    assert "replaces its raw tables with /var/demo_shop" in note and "its own --workspace DIR" in note


def test_a_workspace_is_a_folder_or_a_shop_name_kept_under_var_shops(tmp_path, monkeypatch):
    import importlib

    from ml import settings

    cli = importlib.import_module("ml.__main__")
    monkeypatch.chdir(tmp_path)
    assert cli.workspace_dir("retail") == settings.REPO_ROOT / "var" / "shops" / "retail"
    assert cli.workspace_dir("shops/retail") == tmp_path / "shops" / "retail"
    assert cli.workspace_dir("./retail") == tmp_path / "retail"
    assert cli.workspace_dir(str(tmp_path / "abs")) == tmp_path / "abs"
