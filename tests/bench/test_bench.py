"""The benchmark harness: the pandas features it compares against equal the SQL ones, and a run on a
tiny shop reports every stage. Timings are never asserted here; they belong in docs/benchmarks.md."""
from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from benchmarks import pandas_features, report
from benchmarks.runner import RECOMMENDER_FITS, BenchConfig, run_benchmark
from ml import features
from ml.families import FAMILY_NAMES


def assert_same_features(sql: pd.DataFrame, computed: pd.DataFrame) -> None:
    sql = sql.sort_values("customer_id").reset_index(drop=True)
    computed = computed.sort_values("customer_id").reset_index(drop=True)
    assert list(computed.columns) == list(features.USER_FEATURE_COLUMNS)
    assert computed["customer_id"].astype(str).tolist() == sql["customer_id"].astype(str).tolist()
    for column in features.USER_FEATURE_COLUMNS:
        if column == "customer_id":
            continue
        left, right = sql[column], computed[column]
        if column == "as_of_date":
            assert (pd.to_datetime(left) == pd.to_datetime(right)).all()
        else:
            np.testing.assert_allclose(left.astype("float64"), right.astype("float64"), rtol=1e-9, atol=1e-9,
                                       equal_nan=True, err_msg=column)


@pytest.mark.parametrize("days_before", [0, 200])
def test_pandas_features_equal_the_warehouse_sql_on_a_small_shop(loaded_warehouse, small_shop_as_of, days_before):
    as_of = small_shop_as_of - dt.timedelta(days=days_before)
    features.build_user_features(loaded_warehouse, as_of)
    assert_same_features(features.read_user_features(loaded_warehouse, as_of),
                         pandas_features.build_user_features_pandas(loaded_warehouse, as_of))


def _line(customer, invoice, product, quantity, price, ts, is_return=False):
    return {"customer_id": customer, "invoice_id": invoice, "product_id": product, "quantity": quantity,
            "unit_price": price, "invoice_ts": pd.Timestamp(ts), "is_return": is_return}


def test_pandas_features_follow_the_sql_on_edge_cases(warehouse):
    """Fees, guests, returns, lines on the as-of date, carts bought within and after 7 days, no category."""
    as_of = dt.date(2025, 3, 1)
    lines = pd.DataFrame([
        _line("a", "1", "P1", 2, 5.0, "2025-01-10 10:00"),
        _line("a", "1", "POST", 1, 9.0, "2025-01-10 10:00"),  # a fee: not merchandise
        _line("a", "C2", "P1", -1, 5.0, "2025-01-20 10:00", True),
        _line("a", "3", "P2", 1, 4.0, "2024-01-05 10:00"),
        _line("a", "4", "P1", 3, 5.0, "2025-03-01 00:00"),  # on the as-of date: the future
        _line(None, "5", "P1", 4, 5.0, "2025-02-01 10:00"),  # guest
        _line("b", "6", "P3", 1, 10.0, "2023-12-01 10:00"),  # inactive (over a year ago)
        _line("c", "C7", "P1", -2, 5.0, "2025-02-10 10:00", True),  # only a return: no row
    ])
    products = pd.DataFrame({"product_id": ["P1", "P2", "P3"], "category": ["home", None, "toys"]})
    events = pd.DataFrame({
        "customer_id": ["a", "a", "a", "a", "b", None],
        "product_id": ["P1", "P1", "P2", "P1", "P3", "P1"],
        "event_type": ["cart", "cart", "cart", "view", "view", "cart"],
        "event_ts": pd.to_datetime(["2025-01-09 10:00", "2025-01-09 10:00", "2023-12-01 10:00", "2025-01-09 09:00",
                                    "2025-02-28 23:00", "2025-01-01 00:00"]),
    })
    warehouse.replace_table("raw.order_lines", lines)
    warehouse.replace_table("raw.products", products)
    warehouse.replace_table("raw.events", events)
    features.build_user_features(warehouse, as_of)
    sql = features.read_user_features(warehouse, as_of)
    assert_same_features(sql, pandas_features.build_user_features_pandas(warehouse, as_of))
    row = sql.set_index("customer_id").loc["a"]
    assert row["cart_to_purchase"] == pytest.approx(1 / 3)  # one distinct cart (of three) bought within 7 days
    # Without events the comparison holds too (views and carts are 0, cart_to_purchase missing).
    warehouse.execute("DROP TABLE raw.events")
    features.build_user_features(warehouse, as_of)
    assert_same_features(features.read_user_features(warehouse, as_of),
                         pandas_features.build_user_features_pandas(warehouse, as_of))


def test_growth_exponent_reads_linear_as_one():
    assert report.growth_exponent(10_000, 2.0, 100_000, 20.0) == pytest.approx(1.0)
    assert report.growth_exponent(10_000, 2.0, 100_000, 200.0) == pytest.approx(2.0)
    assert report.growth_exponent(10_000, None, 100_000, 3.0) is None


def test_markdown_block_is_replaced_and_prose_kept(tmp_path):
    path = tmp_path / "benchmarks.md"
    path.write_text(f"# Benchmarks\n\nprose before\n\n{report.START_MARKER}\nold\n{report.END_MARKER}\n\nprose after\n")
    results = {"sizes": [], "recommender": "not available (test)", "families": ["segmentation"], "als": {},
               "to_sql_max_rows": 1, "seed": 1}
    report.write_markdown(report.finish(results, "python -m ml bench --customers 1", {"cpu": "test"}), path)
    text = path.read_text()
    assert "prose before" in text and "prose after" in text and "old" not in text
    assert "python -m ml bench --customers 1" in text and text.count(report.START_MARKER) == 1


@pytest.mark.integration
def test_harness_runs_on_a_tiny_shop_and_reports_every_stage(state_home, tmp_path):
    config = BenchConfig(sizes=[300], workdir=tmp_path / "bench", to_sql_max_rows=300, duckdb_to_sql_max_rows=50)
    results = run_benchmark(config, log=lambda line: None)
    (size,) = results["sizes"]
    stages = {s["stage"]: s for s in size["stages"]}
    expected = ["generate", "ingest", "validate", "publish", "features_sql", "features_pandas",
                "write:duckdb:project", "write:duckdb:to_sql", "write:postgres:project", "write:postgres:to_sql",
                "clv_fits:cdnow", "clv_fits:shop", "dag_run"]
    for family in FAMILY_NAMES:
        expected += [f"{step}:{family}" for step in ("features", "train", "promote", "score")]
    if results["recommender"] == "available":
        expected += ["recommender_matrix", *(f"recommender:{kind}" for kind in RECOMMENDER_FITS)]
    else:
        assert results["recommender"].startswith("not available")
    failed = {name: s["error"] for name, s in stages.items() if not s["ok"]}
    assert failed == {}
    assert set(expected) <= set(stages)
    for s in stages.values():
        assert s["wall_s"] >= 0 and s["cpu_s"] >= 0 and s["peak_rss_mib"] > 0
    assert stages["features_sql"]["info"]["rows"] == stages["features_pandas"]["info"]["rows"]
    assert stages["write:postgres:to_sql"]["info"]["rows"] == 300
    assert stages["write:duckdb:to_sql"]["info"]["rows"] == 50
    assert not (tmp_path / "bench" / "customers_300").exists()  # the workspace is thrown away

    import psycopg

    with psycopg.connect(config.pg_admin_url) as admin:
        left = admin.execute("SELECT count(*) FROM pg_database WHERE datname = %s",
                             (results["postgres_database"],)).fetchone()[0]
    assert left == 0

    markdown = report.write_markdown(report.finish(results, "python -m ml bench --customers 300", {}),
                                     tmp_path / "benchmarks.md")
    text = markdown.read_text()
    for heading in ("Mart writes", "Features: warehouse SQL vs pandas", "Recommender training",
                    "BG/NBD and Gamma-Gamma fits: this project vs lifetimes", "Every stage at 300"):
        assert heading in text
    run_id = report.log_to_mlflow(results, markdown)
    import mlflow

    run = mlflow.get_run(run_id)
    assert mlflow.get_experiment(run.info.experiment_id).name == "valueflow-benchmarks"
    assert "features_sql.n300.wall_s" in run.data.metrics


def test_a_partial_run_replaces_only_its_stages_and_says_so():
    def stage(name, wall):
        return {"stage": name, "ok": True, "wall_s": wall, "cpu_s": wall, "peak_rss_mib": 100.0, "info": {}}

    earlier = {"sizes": [{"customers": 10, "stages": [stage("generate", 1.0), stage("ingest", 9.0), stage("train:x", 5.0)],
                          "command": "python -m ml bench --customers 10"}]}
    latest = {"sizes": [{"customers": 10, "stages_only": ["ingest"], "stages": [stage("generate", 1.5), stage("ingest", 3.0)],
                         "command": "python -m ml bench --customers 10 --stages ingest --merge", "finished_at": "now",
                         "shop": {"order_lines": 7}},
                        {"customers": 1000, "stages_only": ["ingest"], "stages": [stage("generate", 9.0), stage("ingest", 30.0)]}]}
    merged = report.merge(earlier, latest)
    small, big = merged["sizes"]
    assert [(s["stage"], s["wall_s"]) for s in small["stages"]] == [("generate", 1.5), ("ingest", 3.0), ("train:x", 5.0)]
    assert small["command"] == "python -m ml bench --customers 10"
    assert small["remeasured"][0]["stages"] == ["generate", "ingest"]
    assert big["stages_only"] == ["ingest"]
    table = "\n".join(report.scaling_table(merged))
    assert "| ingest | 3.00 / 30.00 |" in table and "10→1,000" in table
    assert "train:x" not in table  # one size only: no growth to show


def test_sizes_merged_from_another_machine_keep_its_name_and_the_report_says_so():
    def stage(name):
        return {"stage": name, "ok": True, "wall_s": 1.0, "cpu_s": 1.0, "peak_rss_mib": 100.0, "process_wall_s": 1.5,
                "info": {}}

    base = {"recommender": "x", "families": [], "als": {}, "to_sql_max_rows": 1, "seed": 1}
    earlier = {**base, "machine": {"cpu": "2 × AMD EPYC"},
               "sizes": [{"customers": 10, "stages": [stage("generate"), stage("train:x")], "command": "bench 10 100"},
                         {"customers": 100, "stages": [stage("generate")], "command": "bench 10 100"}]}
    latest = report.finish({**base, "sizes": [{"customers": 10, "stages_only": ["ingest"], "stages": [stage("ingest")]}]},
                           "python -m ml bench --customers 10 --stages ingest --merge", {"cpu": "2 × Intel Xeon"})
    merged = report.merge(earlier, latest)
    small, big = merged["sizes"]
    assert small["cpu"] == big["cpu"] == "2 × AMD EPYC"
    assert small["remeasured"][0]["cpu"] == "2 × Intel Xeon"
    text = report.render(merged)
    assert "measured on different machines** (2 × AMD EPYC; 2 × Intel Xeon)" in text
    assert "(2 cores, 2 × AMD EPYC)" in text and "UTC, 2 × Intel Xeon): ingest." in text
    assert "produced by `bench 10 100` then `python -m ml bench --customers 10 --stages ingest --merge` (" in text
    same = report.render(report.merge({**earlier, "machine": {"cpu": "2 × Intel Xeon"}}, latest))
    assert "different machines" not in same


def test_stages_outside_the_data_path_and_unknown_families_are_refused():
    with pytest.raises(ValueError, match="train:x not among"):
        BenchConfig(sizes=[10], stages=["ingest", "train:x"])
    assert BenchConfig(sizes=[10], stages=["dag_run"]).data_path() == ()
    assert BenchConfig(sizes=[10], stages=["dag_run"]).dag_run_only
    assert BenchConfig(sizes=[10], stages=["validate", "dag_run"]).data_path() == ("ingest", "validate")
    with pytest.raises(ValueError, match="--families: nope not among"):
        BenchConfig(sizes=[10], families=["segmentation", "nope"])


@pytest.mark.integration
def test_a_families_run_measures_the_data_path_to_the_user_features_then_only_those_families(state_home, tmp_path):
    config = BenchConfig(sizes=[200], workdir=tmp_path / "bench", families=["segmentation"], pg_admin_url=None)
    results = run_benchmark(config, log=lambda line: None)
    (size,) = results["sizes"]
    assert [s["stage"] for s in size["stages"]] == [
        "generate", "ingest", "validate", "publish", "features_sql",
        "features:segmentation", "train:segmentation", "promote:segmentation", "score:segmentation"]
    assert all(s["ok"] for s in size["stages"]), [s.get("error") for s in size["stages"]]
    assert size["families_only"] == ["segmentation"]
    rendered = report.render(report.finish(results, "python -m ml bench --families segmentation", {}))
    assert "Only the data-path stages and the families segmentation were run" in rendered


@pytest.mark.integration
def test_a_stages_run_measures_the_data_path_up_to_the_last_stage_asked(state_home, tmp_path):
    config = BenchConfig(sizes=[200], workdir=tmp_path / "bench", stages=["validate"], pg_admin_url=None)
    (size,) = run_benchmark(config, log=lambda line: None)["sizes"]
    assert [s["stage"] for s in size["stages"]] == ["generate", "ingest", "validate"]
    assert all(s["ok"] for s in size["stages"]) and size["stages_only"] == ["validate"]
    assert size["stages"][1]["info"]["order_lines"] == size["shop"]["order_lines"]


def test_dag_task_table_rows_have_as_many_cells_as_its_header():
    def size(customers, seconds):
        dag = {"stage": "dag_run", "ok": True, "wall_s": seconds, "cpu_s": seconds, "peak_rss_mib": 1.0,
               "info": {"tasks": {"ingest_orders.stage_export": seconds / 10}}}
        return {"customers": customers, "stages": [dag]}

    lines = report.dag_tasks_table({"sizes": [size(10, 100.0), size(100, 900.0)]})
    assert {line.count("|") for line in lines} == {3}
    assert "| ingest_orders.stage_export | 10.00 / 90.00 |" in lines


def test_a_stage_killed_at_its_time_limit_says_so_rather_than_quoting_its_last_output(state_home, tmp_path):
    import os

    from benchmarks.measure import run_stage

    # a million-customer shop takes minutes to generate: past a 3 s limit it is killed mid-way
    m = run_stage("generate", {"customers": 1_000_000, "seed": 7, "shop": str(tmp_path / "shop")}, dict(os.environ),
                  timeout_s=3.0, timeout_cause="the run's 1-min budget (--budget-min)", log=lambda _: None)
    assert not m.ok
    assert m.error == "killed by the run's 1-min budget (--budget-min) after 3 s, still running"
    # the report shows the kill as such, and a real failure still as FAILED
    assert report._note(m.as_dict()) == m.error
    assert report._note({"ok": False, "error": "ValueError: bad shop"}) == "FAILED: ValueError: bad shop"


def test_a_dag_run_only_run_generates_the_shop_then_runs_the_whole_pipeline_on_its_own_warehouse(tmp_path, monkeypatch):
    """The wiring only: the dag_run stage itself runs for real in the tiny-shop test above."""
    import json

    from benchmarks import runner
    from benchmarks.measure import Measurement

    ran = []

    def fake_run_stage(name, args, env, **kwargs):
        ran.append((name, env["VALUEFLOW_HOME"]))
        if name == "generate":
            Path(args["shop"]).mkdir(parents=True)
            (Path(args["shop"]) / "manifest.json").write_text(json.dumps({"last_order_ts": "2025-11-30 20:59:00"}))
        return Measurement(name, True, 1.0, 1.0, 10.0, 1.0, {})

    monkeypatch.setattr(runner, "run_stage", fake_run_stage)
    config = BenchConfig(sizes=[200], workdir=tmp_path / "bench", stages=["dag_run"], pg_admin_url=None)
    results = run_benchmark(config, log=lambda line: None)
    (size,) = results["sizes"]
    assert [name for name, _ in ran] == ["generate", "dag_run"]
    assert ran[1][1].endswith("dag") and ran[1][1] != ran[0][1]  # the DAG's own state, not the stages'
    assert size["stages_only"] == ["dag_run"] and size["as_of"] == "2025-12-01"
    rendered = report.render(report.finish(results, "python -m ml bench --stages dag_run", {}))
    assert "Only the shop generation and the whole DAG run were run at this size." in rendered


@pytest.mark.integration
def test_a_clv_fits_run_fits_both_models_both_ways_on_cdnow_and_the_shop(state_home, tmp_path):
    config = BenchConfig(sizes=[200], workdir=tmp_path / "bench", stages=["clv_fits"], pg_admin_url=None)
    results = run_benchmark(config, log=lambda line: None)
    (size,) = results["sizes"]
    assert [s["stage"] for s in size["stages"]] == ["generate", "clv_fits:cdnow", "clv_fits:shop"]
    assert all(s["ok"] for s in size["stages"]), [s.get("error") for s in size["stages"]]
    cdnow, shop = (s["info"] for s in size["stages"][1:])
    assert cdnow["customers"] == 2357 and 100 < shop["customers"] <= 200
    for fitted in (cdnow, shop):
        for model in ("bgnbd", "gamma_gamma"):
            assert fitted[model]["project_s"] > 0 and fitted[model]["lifetimes_s"] > 0
            assert fitted[model]["max_relative_difference"] < 1e-3, (model, fitted[model])  # the same optimum
    assert cdnow["bgnbd"]["project_params"]["r"] == pytest.approx(0.243, abs=1e-3)
    rendered = report.render(report.finish(results, "python -m ml bench --stages clv_fits", {}))
    assert "| CDNOW sample (weeks) | BG/NBD | 2,357 |" in rendered
    assert "Only the shop generation and the BG/NBD and Gamma-Gamma fits were run at this size." in rendered
