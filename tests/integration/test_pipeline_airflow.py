"""The whole pipeline under Airflow (`dag.test`, SQLite metadata) on a small generated shop, then a
corrupted export that must stop at validation and leave every table as it was.

The run itself is the session's `pipeline_baseline` (tests/conftest.py), shared with tests/reliability:
each test here starts from the workspace that run left."""
from __future__ import annotations

import shutil

import pytest

from ml import catalog, pipeline, run_journal

pytestmark = pytest.mark.integration


def snapshot(wh) -> dict[str, int]:
    tables = wh.query("SELECT table_schema || '.' || table_name AS t FROM information_schema.tables "
                      "WHERE table_schema IN ('raw', 'features', 'marts') AND table_name NOT LIKE 'stage_%'")["t"]
    return {t: wh.row_count(t) for t in sorted(tables)}


def test_dags_run_end_to_end_then_a_broken_export_changes_nothing(baseline_workspace, small_shop, small_shop_as_of,
                                                                   tmp_path, capfd):
    from ml import registry
    from ml.warehouse import connect

    with connect() as wh:
        segments = wh.query("SELECT * FROM marts.user_segments")
        champion = registry.get_alias("segmentation", "champion")
        assert len(segments) > 0 and champion is not None
        assert set(segments["model_version"]) == {champion.version}
        assert set(segments["run_id"]) == {champion.run_id}
        assert str(segments["as_of_date"].iloc[0].date()) == small_shop_as_of.isoformat()
        promotions = wh.query("SELECT * FROM ops.model_promotions WHERE model_name = 'segmentation'")
        assert promotions["decision"].tolist() == ["promoted"]
        assert promotions["pipeline_run_id"].iloc[0].startswith("manual__")
        assert wh.query("SELECT source FROM ops.ingest_runs")["source"].tolist() == [str(small_shop.resolve())]
        written = [mart for mart in catalog.MART_COLUMNS if wh.table_exists(mart)]
        assert catalog.USER_SEGMENTS in written and catalog.MARKETING_AUDIENCES in written
        rules = wh.query(f"SELECT lift FROM {catalog.PRODUCT_ASSOCIATIONS} WHERE as_of_date = DATE '{small_shop_as_of}'")
        assert len(rules) > 0 and (rules["lift"] > 1).all()  # frequently bought together, mined in the run
        for mart in written:  # the columns the README's mart table documents, lineage last
            lineage = {catalog.MARKETING_AUDIENCES: catalog.AUDIENCE_LINEAGE_COLUMNS,
                       catalog.PRODUCT_ASSOCIATIONS: catalog.ASSOCIATION_LINEAGE_COLUMNS}.get(mart, catalog.LINEAGE_COLUMNS)
            assert wh.columns(mart) == [*catalog.MART_COLUMNS[mart], *lineage], mart
        before = snapshot(wh)
    capfd.readouterr()

    broken = tmp_path / "broken_shop"
    shutil.copytree(small_shop, broken)
    lines = (broken / "order_lines.csv").read_text().splitlines()
    lines[5] = lines[5].replace(lines[5].split(",")[5], "-3.50")  # a negative price on export row 6
    (broken / "order_lines.csv").write_text("\n".join(lines) + "\n")
    assert pipeline.run_pipeline(str(broken)) != 0
    output = capfd.readouterr()
    shown = (output.out + output.err).splitlines()
    # the person sees a few lines: the failing task with its error, the DAG, where Airflow's log is
    assert len([line for line in shown if line.strip()]) <= 6, shown
    assert any(line.startswith("✗ ingest_orders failed in ") and "✗ validate_order_lines" in line for line in shown)
    assert f"Airflow's log of this run: {pipeline.log_path()}  (--verbose prints it here)" in shown
    assert "ingest_orders: failed" in pipeline.log_path().read_text()  # the runner's own line, in the log
    report = run_journal.describe(run_journal.read(pipeline.journal_path())).splitlines()
    assert "expect_column_values_to_be_between on column unit_price" in "\n".join(report[-6:])
    assert "source_file=order_lines.csv, source_row=6" in "\n".join(report[-6:])
    with connect() as wh:
        assert snapshot(wh) == before
        failed = wh.query("SELECT * FROM ops.validation_results WHERE NOT success")
        assert failed["suite"].tolist() == ["raw_order_lines"]


def test_a_second_export_ending_earlier_is_trained_and_scored_for_its_own_as_of(baseline_workspace, small_shop,
                                                                                small_shop_as_of, tmp_path, capfd):
    """The README's steps in order: the demo's shop, then a user's Online Retail export whose orders end
    eight weeks earlier. Every DAG of the second run works for that export's date, not the newest ever
    ingested (the first run's), so its marts are filled for it."""
    import datetime as dt

    from ml import quality
    from ml.warehouse import connect

    earlier = small_shop_as_of - dt.timedelta(days=56)
    export = tmp_path / "online_retail_export.csv"
    quality.load_truth(small_shop, f"duckdb:///{tmp_path / 'truth.duckdb'}")
    with connect(f"duckdb:///{tmp_path / 'truth.duckdb'}") as truth:
        quality.write_history(truth, earlier, export)

    capfd.readouterr()
    assert pipeline.run_pipeline(str(export)) == 0
    # another file into a workspace that holds an export: the run says so before it starts
    assert f"holds the export {small_shop.resolve()} (as of {small_shop_as_of})" in capfd.readouterr().err
    with connect() as wh:
        assert sorted(str(d)[:10] for d in wh.query("SELECT as_of_date FROM ops.ingest_runs")["as_of_date"]) == \
            sorted([small_shop_as_of.isoformat(), earlier.isoformat()])
        for mart in (catalog.USER_SEGMENTS, catalog.USER_PROPENSITY, catalog.USER_VALUE, catalog.USER_RECOMMENDATIONS):
            assert wh.row_count(mart, f"as_of_date = DATE '{earlier}'") > 0, mart
        built = wh.scalar("SELECT count(*) FROM features.user_features WHERE as_of_date = DATE "
                          f"'{earlier}'")
        assert built > 0
