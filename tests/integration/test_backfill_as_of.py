"""A backfilled date through the real warehouse and MLflow registry (no Airflow): the export is read
for a past as-of date, its challenger is judged but cannot displace a newer champion, and a past
date is scored only with the model that was champion on it."""
from __future__ import annotations

import datetime as dt

import pytest

from ml import orchestration, promotion, registry, validation

pytestmark = pytest.mark.integration


def test_a_scheduled_past_date_validates_the_export_and_records_its_own_as_of(warehouse, small_shop, small_shop_as_of):
    past = small_shop_as_of - dt.timedelta(days=56)
    today = dt.date(2026, 11, 23)

    staged = orchestration.stage_export(str(small_shop), None, past, today=today)
    assert (staged["as_of"], staged["as_of_from"], staged["orders_before"]) == (past.isoformat(), "schedule", "2026-11-24")
    # The export holds eight weeks of orders after that date: history, not an error, for a backfill...
    orchestration.validate_export(staged["as_of"], "backfill-run", staged["orders_before"])
    # ...whereas a run asked for that date by hand still refuses orders dated on or after it.
    with pytest.raises(validation.ValidationFailed, match="expect_column_values_to_be_between on column invoice_ts"):
        orchestration.validate_export(staged["as_of"], "manual-run")

    published = orchestration.publish_export(staged["source"], staged["as_of"], "backfill-run")
    built = orchestration.build_user_features(published["as_of"])
    assert warehouse.row_count("raw.order_lines") == staged["staged_rows"]["order_lines"]  # the whole export
    assert warehouse.scalar("SELECT max(as_of_date) FROM ops.ingest_runs").isoformat()[:10] == past.isoformat()
    assert built["rows"] > 0
    # Recency 0 or less would mean a purchase on or after the date the features stand for.
    assert warehouse.scalar("SELECT min(recency_days) FROM features.user_features") >= 1
    customers_before = warehouse.scalar(
        f"SELECT count(DISTINCT customer_id) FROM raw.order_lines WHERE invoice_ts < DATE '{past}' "
        "AND customer_id IS NOT NULL AND NOT is_return")
    assert built["rows"] == customers_before


def test_the_conf_wins_over_the_schedule_and_the_export_is_the_default(warehouse, small_shop, small_shop_as_of):
    chosen = orchestration.stage_export(str(small_shop), "2025-06-02", dt.date(2025, 10, 5))
    assert (chosen["as_of"], chosen["as_of_from"], chosen["orders_before"]) == ("2025-06-02", "conf", "2025-06-02")
    default = orchestration.stage_export(str(small_shop), None, None)
    assert (default["as_of"], default["as_of_from"]) == (small_shop_as_of.isoformat(), "export")


def test_a_backfilled_challenger_never_displaces_a_newer_champion_and_past_dates_get_their_own(
        loaded_warehouse, mlflow_store, small_shop_as_of):
    wh = loaded_warehouse
    now, past = small_shop_as_of.isoformat(), (small_shop_as_of - dt.timedelta(days=56)).isoformat()
    orchestration.train_family("segmentation", now)
    assert orchestration.promote_family("segmentation", now, "current")["champion_version"] == "1"
    champion = registry.get_alias("segmentation", registry.CHAMPION)
    assert registry.decided_as_of(champion) == now

    # Whatever the policy says of a challenger trained for an earlier date, it is kept out.
    winning = promotion.Decision(True, "beats the champion. silhouette: ...", 0.5, 0.4, "champion")
    kept = promotion.keep_newer_champion(winning, champion, dt.date.fromisoformat(past))
    assert not kept.promote and f"trained for {past}, before the champion's date {now}" in kept.reason
    assert promotion.keep_newer_champion(winning, champion, small_shop_as_of).promote

    orchestration.build_family_features("segmentation", past)
    orchestration.train_family("segmentation", past)
    backfilled = orchestration.promote_family("segmentation", past, "backfill")
    assert not backfilled["promoted"] and backfilled["champion_version"] == "1"  # the present keeps v1
    recorded = wh.query("SELECT challenger_version, decision, as_of_date FROM ops.model_promotions "
                        f"WHERE as_of_date = DATE '{past}' ORDER BY decided_at")
    # The past date gets its own model: the backfilled challenger if the policy would have promoted
    # it, else the best baseline fitted on that date's history; neither moves the champion alias.
    decisions = recorded["decision"].tolist()
    assert decisions in (["promoted_for_backfill"], ["rejected", "baseline_served"]), decisions
    serving = recorded["challenger_version"].iloc[-1]
    assert registry.champion_at("segmentation", past).version == serving != "1"
    assert registry.get_alias("segmentation", registry.CHAMPION).version == "1"

    # The past is scored with its own model, the present with v1: nothing after `past` leaks into it.
    assert orchestration.score_family("segmentation", past)["model_version"] == serving
    assert orchestration.score_family("segmentation", now)["model_version"] == "1"
    versions = wh.query("SELECT CAST(as_of_date AS VARCHAR) AS day, min(model_version) AS lo, max(model_version) AS hi "
                        "FROM marts.user_segments GROUP BY 1 ORDER BY 1")
    assert versions.values.tolist() == [[past, serving, serving], [now, "1", "1"]]


def test_an_export_whose_last_order_lies_after_today_stops_before_it_moves_the_as_of(warehouse, small_shop,
                                                                                   small_shop_as_of):
    from ml import ingest

    last_day = small_shop_as_of - dt.timedelta(days=1)
    # The same export read as if today were a week before its last order: its newest rows are "future".
    with pytest.raises(ingest.SourceError, match=rf"after today \({last_day - dt.timedelta(days=7)}\)"):
        orchestration.stage_export(str(small_shop), None, None, today=last_day - dt.timedelta(days=7))
    # Read on the day after its last order it is the default case, and --as-of is always accepted.
    assert orchestration.stage_export(str(small_shop), None, None, today=last_day)["as_of_from"] == "export"
    early = (small_shop_as_of - dt.timedelta(days=30)).isoformat()
    assert orchestration.stage_export(str(small_shop), early, None,
                                      today=last_day - dt.timedelta(days=60))["as_of"] == early
