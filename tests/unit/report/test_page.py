"""The report's pictures show the section's numbers, and its HTML file holds them all."""
import datetime as dt

import pandas as pd
import pytest

from ml.report import charts, content, markup, page
from tests.unit.report.test_content import AS_OF, shop  # noqa: F401 (fixture)


def test_segment_chart_bars_are_the_tables_shares(shop):  # noqa: F811
    table = content.segments(shop, AS_OF).table
    ax = charts.segments_chart(table).axes[0]
    assert [b.get_width() for b in ax.containers[0]] == pytest.approx((table["customer_share"] * 100).tolist())
    assert [b.get_width() for b in ax.containers[1]] == pytest.approx((table["spend_share"] * 100).tolist())
    # the largest segment is drawn at the top
    by_height = sorted(zip(ax.get_yticks(), (t.get_text() for t in ax.get_yticklabels())), reverse=True)
    assert [label for _, label in by_height] == table["segment"].tolist()


def test_value_tier_chart_has_one_group_per_tier_with_its_three_shares(shop):  # noqa: F811
    table = content.value_tiers(shop, AS_OF).table
    ax = charts.value_tiers_chart(table).axes[0]
    assert [t.get_text() for t in ax.get_xticklabels()] == table["value_tier"].tolist()
    for container, column in zip(ax.containers, ("customer_share", "historical_share", "predicted_share")):
        assert [b.get_height() for b in container] == pytest.approx((table[column] * 100).tolist())


def test_audience_chart_stacks_control_after_the_contacted(shop):  # noqa: F811
    table = content.audiences(shop, AS_OF).table
    ax = charts.audiences_chart(table).axes[0]
    treated, control = ax.containers
    assert [b.get_width() for b in treated] == [2, 1] and [b.get_width() for b in control] == [1, 0]
    assert [b.get_x() for b in control] == [2, 1]


def test_forecast_chart_draws_history_forecast_and_interval_per_product(shop):  # noqa: F811
    section = content.forecast(shop, AS_OF)
    figure = charts.forecast_chart(section.table, section.history)
    assert len(figure.axes) == 2  # p2 then p1
    top = figure.axes[0]
    actual, forecast = top.get_lines()
    assert list(forecast.get_ydata()) == [5, 6, 7, 8]
    assert list(actual.get_ydata()) == section.history["units"].tolist()
    assert "p2 TEA" in top.get_title()


def test_the_report_file_holds_every_section_its_numbers_and_pictures(shop, tmp_path):  # noqa: F811
    path = page.write_report(shop, AS_OF, tmp_path / "r.html")
    text = path.read_text()
    for key in ("segments", "value_tiers", "audiences", "recommendations", "forecast"):
        assert f'<section id="{key}">' in text
    assert text.count("data:image/png;base64,") == 5
    assert "<td class=\"text\">loyal</td>" in text and "<td class=\"num\">75.0%</td>" in text  # 3 of 4 customers are loyal
    assert "<td class=\"text\">TEA</td>" in text and "m version 3 (kmeans)" in text
    assert not list(tmp_path.glob(".*partial"))


def test_a_missing_mart_leaves_its_section_empty_and_says_why(shop, tmp_path):  # noqa: F811
    shop.execute("DROP TABLE marts.product_sales_forecast")
    text = page.write_report(shop, AS_OF, tmp_path / "r.html").read_text()
    assert text.count("data:image/png;base64,") == 4
    assert "marts.product_sales_forecast does not exist" in text


def test_a_report_that_fails_to_render_leaves_the_last_one_in_place(shop, tmp_path, monkeypatch):  # noqa: F811
    path = page.write_report(shop, AS_OF, tmp_path / "r.html")
    before = path.read_text()

    def broken(table):
        raise RuntimeError("cannot draw")

    monkeypatch.setattr(charts, "segments_chart", broken)
    with pytest.raises(RuntimeError, match="cannot draw"):
        page.write_report(shop, AS_OF, path)
    assert path.read_text() == before


def test_the_report_path_is_per_as_of_date_under_the_workspace(state_home):
    assert page.report_path(dt.date(2024, 6, 3)) == state_home / "reports" / "marketing-2024-06-03.html"


def test_shares_print_as_percentages_and_counts_with_separators():
    out = markup.formatted(pd.DataFrame({"customers": [1234], "customer_share": [0.5], "mean_spend": [12.345],
                                        "mean_p_alive": [0.876]}))
    assert out.iloc[0].tolist() == ["1,234", "50.0%", "12.3", "0.88"]
    assert out.columns.tolist() == ["customers", "customer share", "mean spend", "mean p alive"]
