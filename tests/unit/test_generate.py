"""The synthetic shop: deterministic, and its archetypes and seasons really differ."""
from __future__ import annotations

import pandas as pd
import pytest

from ml.generate import ShopSpec, generate_shop


@pytest.fixture(scope="module")
def shop():
    return generate_shop(ShopSpec(customers=600, seed=3))


def test_same_seed_gives_the_same_shop(shop):
    again = generate_shop(ShopSpec(customers=600, seed=3))
    pd.testing.assert_frame_equal(shop["order_lines"], again["order_lines"])
    other = generate_shop(ShopSpec(customers=600, seed=4))
    assert not shop["order_lines"].equals(other["order_lines"])


def test_archetypes_differ_in_spend_and_frequency(shop):
    lines = shop["order_lines"]
    lines = lines[(lines["Customer ID"] != "") & (lines["Quantity"] > 0)]
    per_customer = lines.assign(amount=lines["Quantity"] * lines["Price"]).groupby("Customer ID").agg(
        spend=("amount", "sum"), orders=("Invoice", "nunique"))
    truth = shop["customers_truth"].set_index("customer_id")
    per_customer = per_customer.join(truth["archetype"])
    medians = per_customer.groupby("archetype").median()
    assert medians.loc["high_value_loyal", "spend"] > 3 * medians.loc["occasional", "spend"]
    assert medians.loc["high_value_loyal", "orders"] > medians.loc["regular", "orders"] > medians.loc["one_time", "orders"]
    assert medians.loc["one_time", "orders"] == 1


def test_holiday_weeks_are_busier_than_summer(shop):
    lines = shop["order_lines"]
    orders = lines[lines["Quantity"] > 0].drop_duplicates("Invoice")
    month = pd.to_datetime(orders["InvoiceDate"]).dt.month
    per_month = month.value_counts()
    assert per_month[11] > 1.3 * per_month[7]


def test_returns_guests_events_and_reviews_exist(shop):
    lines = shop["order_lines"]
    cancelled = lines[lines["Invoice"].str.startswith("C")]
    assert len(cancelled) > 0 and (cancelled["Quantity"] < 0).all()
    assert (lines["Customer ID"] == "").mean() == pytest.approx(0.04, abs=0.02)
    assert set(shop["events"]["event_type"]) == {"view", "cart"}
    assert shop["reviews"]["rating"].between(1, 5).all()
    end = pd.Timestamp(ShopSpec(600).start) + pd.Timedelta(weeks=104)
    assert pd.to_datetime(lines["InvoiceDate"]).max() < end
    assert shop["events"]["event_ts"].max() < end and shop["reviews"]["review_ts"].max() < end


def test_truth_is_kept_aside_from_the_export(shop):
    assert "archetype" not in shop["order_lines"].columns
    assert len(shop["customers_truth"]) == 600


@pytest.fixture(scope="module")
def sliced_shop(tmp_path_factory):
    """The same spec written whole and in three slices (how 100k-1M shops are generated)."""
    from ml.generate import write_shop

    spec = ShopSpec(customers=2400, seed=9)
    whole, sliced = tmp_path_factory.mktemp("whole"), tmp_path_factory.mktemp("sliced")
    write_shop(spec, whole)
    counts = write_shop(spec, sliced, chunk_customers=1000)
    read = lambda folder, name: pd.read_csv(folder / f"{name}.csv", dtype=str, keep_default_na=False)  # noqa: E731
    return counts, {n: read(whole, n) for n in ("order_lines", "products")}, \
        {n: read(sliced, n) for n in ("order_lines", "products", "customers_truth", "events")}, sliced


def test_a_sliced_shop_numbers_customers_and_invoices_without_clashes(sliced_shop):
    counts, _, sliced, _ = sliced_shop
    truth, lines = sliced["customers_truth"], sliced["order_lines"]
    assert truth["customer_id"].astype(int).tolist() == list(range(12000, 14400))
    assert counts["order_lines"] == len(lines) and counts["customers_truth"] == 2400
    sales = lines[~lines["Invoice"].str.startswith("C")]
    buyers = sales[sales["Customer ID"] != ""].groupby("Invoice")["Customer ID"].nunique()
    assert (buyers == 1).all()  # no invoice number reused by another slice's customer
    refunds = lines[lines["Invoice"].str.startswith("C")]
    numbers = refunds["Invoice"].str[1:]
    cancels = numbers.isin(set(sales["Invoice"]))
    assert (numbers[~cancels].astype(int) >= 100_000_000).all()  # returns clear of every order number
    per_refund = refunds[~cancels].groupby("Invoice").size()
    assert (per_refund == 1).all()  # one line per return, across slices too
    assert set(sliced["events"]["customer_id"]) <= set(truth["customer_id"])


def test_a_sliced_shop_has_one_catalogue_and_the_same_shape(sliced_shop):
    _, whole, sliced, folder = sliced_shop
    pd.testing.assert_frame_equal(sliced["products"], whole["products"])
    assert len(sliced["order_lines"]) == pytest.approx(len(whole["order_lines"]), rel=0.1)
    manifest = __import__("json").loads((folder / "manifest.json").read_text())
    assert manifest["last_order_ts"] == str(pd.to_datetime(sliced["order_lines"]["InvoiceDate"]).max())


def test_a_christmas_range_arrives_in_november_sells_as_new_in_and_is_cleared_in_january(shop):
    lines = shop["order_lines"]
    sales = lines[lines["Quantity"] > 0].assign(ts=lambda f: pd.to_datetime(f["InvoiceDate"]))
    products = shop["products"].set_index("product_id")
    christmas = products.index[products["description"].str.startswith("CHRISTMAS ")]
    assert 0 < len(christmas) <= 0.12 * len(products)  # two ranges of COLLECTION_SHARE
    first, last = (sales[sales["StockCode"].isin(christmas)].groupby("StockCode")["ts"].agg(f) for f in ("min", "max"))
    assert first.dt.month.isin([10, 11, 12]).all()  # arrives late October to November
    assert ((last - first) < pd.Timedelta(weeks=11)).all()  # cleared ten weeks after launch
    # "new in": in the four weeks before the end, products first sold within them take real demand
    end = pd.Timestamp(ShopSpec(600).start) + pd.Timedelta(weeks=104)
    recent = sales[sales["ts"] >= end - pd.Timedelta(days=28)]
    new = sales.groupby("StockCode")["ts"].min().loc[lambda t: t >= end - pd.Timedelta(days=28)].index
    assert len(new) >= 3 and recent["StockCode"].isin(new).mean() > 0.02


def test_descriptions_are_words_a_catalogue_carries(shop):
    words = shop["products"]["description"].str.split().explode()
    assert not words.str.contains(r"\d").any()  # no product numbers
    assert words.value_counts().iloc[0] > 5  # shared words: content similarity has something to read
