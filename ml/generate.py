"""A deterministic synthetic shop: customers drawn from latent value archetypes, a catalogue, order
lines with weekly/yearly seasonality and holiday peaks, cancellations and returns, browse and
add-to-cart events, and reviews.

New products arrive as real shops launch them: a steady trickle through the two years and a
Christmas range every November (`COLLECTION_WEEKS`), cleared in January; a product's first
`NOVELTY_WEEKS` weeks on sale draw extra demand within its category ("new in"). Descriptions are
words a catalogue carries (colour or style, and a noun of the category), so content-based models
have something to read, as on a real export.

Order lines are written in the UCI Online Retail II layout, so the same loader reads generated and
real exports. The archetype of every customer is written aside (`customers_truth.csv`) as ground
truth for tests; it never enters the warehouse.

Big shops are generated and written in slices of `CHUNK_CUSTOMERS` customers that share one
catalogue, so memory stays flat from 10k to 1M customers; a shop that fits in one slice is exactly
what `generate_shop` gives.
"""
from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv

CATEGORIES = ("home", "kitchen", "garden", "toys", "stationery", "fashion", "beauty", "electronics")
CATEGORY_PRICE = np.array([8.0, 6.0, 12.0, 9.0, 3.0, 18.0, 11.0, 30.0])
COUNTRIES = ("United Kingdom", "Germany", "France", "EIRE", "Netherlands", "Spain")
COUNTRY_WEIGHTS = np.array([0.82, 0.05, 0.05, 0.04, 0.02, 0.02])
# Share of each weekday in a week's orders (Mon..Sun): shops like this one peak mid-week.
WEEKDAY_WEIGHTS = np.array([0.17, 0.18, 0.18, 0.17, 0.14, 0.06, 0.10])
# The Christmas range arrives through November (ISO weeks), sells through the holiday and is
# cleared in January; each year's range is this share of the catalogue.
COLLECTION_WEEKS = (44, 45, 46, 47)
COLLECTION_SHARE = 0.05
COLLECTION_WEEKS_ON_SALE = 10
# "New in": a line of a category in which a product launched in the last NOVELTY_WEEKS weeks is on
# sale buys one of those (by popularity) with this probability, instead of the category's usual mix.
NOVELTY_WEEKS = 8
NOVELTY_SHARE = 0.15
STYLE_WORDS = ("WHITE", "RED", "PINK", "BLUE", "GREEN", "IVORY", "BLACK", "VINTAGE", "RETRO", "RUSTIC",
               "FLORAL", "POLKADOT", "REGENCY", "SCANDI", "GINGHAM", "STRIPED")
CATEGORY_NOUNS = {
    "home": ("CANDLE HOLDER", "CUSHION COVER", "PHOTO FRAME", "WALL CLOCK", "DOORSTOP", "VASE"),
    "kitchen": ("MUG", "TEAPOT", "CAKE TIN", "TEA TOWEL", "LUNCH BOX", "EGG CUP"),
    "garden": ("PLANTER", "BIRD FEEDER", "WATERING CAN", "GARDEN SIGN", "LANTERN", "WIND CHIME"),
    "toys": ("SKIPPING ROPE", "SPINNING TOP", "PUPPET", "JIGSAW", "DOLLY", "MONEY BANK"),
    "stationery": ("NOTEBOOK", "GIFT WRAP", "PENCIL SET", "GREETING CARD", "STICKER SHEET", "CALENDAR"),
    "fashion": ("TOTE BAG", "SCARF", "PURSE", "HAIR CLIP", "UMBRELLA", "SHOPPER"),
    "beauty": ("SOAP", "WASH BAG", "MIRROR", "BATH SALTS", "HAND CREAM", "TRINKET BOX"),
    "electronics": ("RADIO", "FAIRY LIGHTS", "DESK LAMP", "SPEAKER", "ALARM CLOCK", "NIGHT LIGHT"),
}
# Customers generated at once: about 1.4 GiB at peak, whatever the shop's size.
CHUNK_CUSTOMERS = 25_000
# Return invoices of a sliced shop are numbered from here, above any order's invoice number.
SLICED_RETURN_BASE = 100_000_000


@dataclass(frozen=True)
class Archetype:
    name: str
    share: float
    orders_per_week: float
    extra_lines: float  # basket size is 1 + Poisson(extra_lines)
    units_per_line: float
    price_factor: float
    weekly_churn: float  # hazard of leaving for good, per week
    taste_concentration: float  # Dirichlet alpha: small = strong category taste


ARCHETYPES = (
    Archetype("high_value_loyal", 0.08, 0.55, 7.0, 4.0, 1.35, 0.002, 0.25),
    Archetype("regular", 0.27, 0.18, 4.0, 2.5, 1.0, 0.006, 0.35),
    Archetype("bargain_bulk", 0.13, 0.12, 8.0, 6.0, 0.7, 0.008, 0.35),
    Archetype("occasional", 0.25, 0.04, 2.0, 1.5, 1.0, 0.010, 0.5),
    Archetype("one_time", 0.12, 0.0, 2.0, 1.5, 1.0, 1.0, 0.5),
    Archetype("fading", 0.15, 0.30, 4.0, 2.5, 1.0, 0.040, 0.35),
)


@dataclass(frozen=True)
class ShopSpec:
    customers: int
    seed: int = 7
    start: dt.date = dt.date(2023, 12, 4)  # a Monday
    weeks: int = 104
    guest_share: float = 0.04
    cancel_share: float = 0.025
    return_share: float = 0.02


def _weekly_season(start: dt.date, weeks: int) -> np.ndarray:
    """Demand multiplier per week: a yearly wave plus the November-December holiday peak."""
    week_starts = [start + dt.timedelta(weeks=w) for w in range(weeks)]
    woy = np.array([d.isocalendar()[1] for d in week_starts])
    # A gift shop: quiet in spring, building through autumn to the holiday peak.
    season = 1.0 + 0.25 * np.sin(2 * np.pi * (woy - 27) / 52.0)
    season[(woy >= 45) & (woy <= 50)] *= 1.8
    season[woy == 52] *= 0.4  # the shop closes over Christmas
    return season


def _catalogue(spec: ShopSpec, rng: np.random.Generator) -> pd.DataFrame:
    n = int(np.clip(spec.customers // 8, 120, 4000))
    category = rng.integers(0, len(CATEGORIES), n)
    price = np.round(CATEGORY_PRICE[category] * rng.lognormal(0.0, 0.45, n), 2)
    popularity = rng.pareto(1.2, n) + 0.05
    launch_week = np.where(rng.random(n) < 0.75, 0, rng.integers(1, spec.weeks, n))
    # Some products are retired before the end; recommenders must never offer them.
    retire_week = np.where(rng.random(n) < 0.08, rng.integers(spec.weeks // 2, spec.weeks - 8, n), spec.weeks + 1)
    retire_week = np.maximum(retire_week, launch_week + 4)
    # A child stream: the draws above stay what they were before ranges and words existed.
    extra = rng.spawn(1)[0]
    is_range = np.zeros(n, dtype=bool)
    for week in _collection_weeks(spec):
        evergreen = np.flatnonzero((launch_week == 0) & (retire_week > spec.weeks) & ~is_range)
        picked = extra.choice(evergreen, min(len(evergreen), max(1, round(COLLECTION_SHARE * n))), replace=False)
        launch_week[picked] = week + extra.integers(0, len(COLLECTION_WEEKS), len(picked))
        retire_week[picked] = launch_week[picked] + COLLECTION_WEEKS_ON_SALE
        is_range[picked] = True
    return pd.DataFrame(
        {
            "product_id": [f"P{10000 + i}" for i in range(n)],
            "category": np.array(CATEGORIES)[category],
            "category_index": category,
            "unit_price": price,
            "popularity": popularity,
            "launch_week": launch_week,
            "retire_week": retire_week,
            "description": _descriptions(category, is_range, extra),
        }
    )


def _collection_weeks(spec: ShopSpec) -> list[int]:
    """The week (since the start) each year's Christmas range starts arriving, if within the period."""
    first = COLLECTION_WEEKS[0]
    return [w for w in range(1, spec.weeks)
            if (spec.start + dt.timedelta(weeks=w)).isocalendar()[1] == first]


def _descriptions(category: np.ndarray, is_range: np.ndarray, rng: np.random.Generator) -> list[str]:
    """"RED VINTAGE TEAPOT", "CHRISTMAS FLORAL MUG": style words and a noun of the product's category."""
    style = rng.integers(0, len(STYLE_WORDS), len(category))
    noun = rng.integers(0, 6, len(category))
    return [("CHRISTMAS " if r else "") + f"{STYLE_WORDS[s]} {CATEGORY_NOUNS[CATEGORIES[c]][k]}"
            for c, r, s, k in zip(category, is_range, style, noun)]


def _customers(spec: ShopSpec, rng: np.random.Generator, count: int, first_id: int = 12000) -> pd.DataFrame:
    shares = np.array([a.share for a in ARCHETYPES])
    kind = rng.choice(len(ARCHETYPES), count, p=shares / shares.sum())
    # Acquisition is spread over the period, a little heavier early (an established shop).
    signup_week = np.minimum((rng.beta(1.0, 1.6, count) * spec.weeks).astype(int), spec.weeks - 1)
    hazard = np.array([a.weekly_churn for a in ARCHETYPES])[kind]
    lifetime = np.where(hazard >= 1.0, 1, rng.geometric(np.clip(hazard, 1e-6, 1.0)))
    return pd.DataFrame(
        {
            "customer_id": (first_id + np.arange(count)).astype(str),
            "archetype_index": kind,
            "archetype": np.array([a.name for a in ARCHETYPES])[kind],
            "signup_week": signup_week,
            "churn_week": signup_week + lifetime,
            "country": rng.choice(COUNTRIES, count, p=COUNTRY_WEIGHTS),
        }
    )


def _orders(spec, customers, season, rng) -> pd.DataFrame:
    """One row per order: customer, week, timestamp."""
    rate = np.array([a.orders_per_week for a in ARCHETYPES])[customers["archetype_index"].to_numpy()]
    weeks = np.arange(spec.weeks)
    signup = customers["signup_week"].to_numpy()[:, None]
    churn = customers["churn_week"].to_numpy()[:, None]
    active = (weeks[None, :] >= signup) & (weeks[None, :] < churn)
    # Each customer's intensity also drifts (some warm up, some cool down) so histories differ.
    drift = rng.lognormal(0.0, 0.35, (len(customers), 1))
    counts = rng.poisson(rate[:, None] * drift * season[None, :] * active)
    counts[np.arange(len(customers)), signup[:, 0]] += 1  # everyone orders in the week they sign up
    cust_idx, week_idx = np.nonzero(counts)
    repeats = counts[cust_idx, week_idx]
    cust_idx = np.repeat(cust_idx, repeats)
    week_idx = np.repeat(week_idx, repeats)
    day = rng.choice(7, len(cust_idx), p=WEEKDAY_WEIGHTS / WEEKDAY_WEIGHTS.sum())
    minute = rng.integers(8 * 60, 20 * 60, len(cust_idx))
    base = np.datetime64(spec.start, "m")
    ts = base + (week_idx * 7 + day).astype("timedelta64[D]") + minute.astype("timedelta64[m]")
    orders = pd.DataFrame({"customer_pos": cust_idx, "week": week_idx, "invoice_ts": ts})
    return orders.sort_values("invoice_ts", kind="stable").reset_index(drop=True)


def _lines(spec, customers, catalogue, orders, rng, first_invoice: int = 500000) -> pd.DataFrame:
    archetype = customers["archetype_index"].to_numpy()[orders["customer_pos"].to_numpy()]
    extra = np.array([a.extra_lines for a in ARCHETYPES])[archetype]
    n_lines = 1 + rng.poisson(extra)
    order_idx = np.repeat(np.arange(len(orders)), n_lines)
    cust_pos = orders["customer_pos"].to_numpy()[order_idx]
    week = orders["week"].to_numpy()[order_idx]
    # Category taste: each customer has a Dirichlet preference, concentrated for most archetypes.
    alpha = np.array([a.taste_concentration for a in ARCHETYPES])[customers["archetype_index"].to_numpy()]
    taste = rng.gamma(np.repeat(alpha[:, None], len(CATEGORIES), axis=1))
    taste /= taste.sum(axis=1, keepdims=True)
    cum_taste = np.cumsum(taste, axis=1)
    u = rng.random(len(order_idx))
    category = np.minimum((u[:, None] > cum_taste[cust_pos]).sum(axis=1), len(CATEGORIES) - 1)
    product_pos = _pick_products(catalogue, category, week, rng)
    _buy_new_in(catalogue, category, week, product_pos, rng.spawn(1)[0])
    units = np.array([a.units_per_line for a in ARCHETYPES])[archetype[order_idx]]
    quantity = 1 + rng.poisson(units - 1 + 1e-9)
    price_factor = np.array([a.price_factor for a in ARCHETYPES])[archetype[order_idx]]
    # Bigger buyers get volume prices; premium archetypes buy the dearer variants.
    price = catalogue["unit_price"].to_numpy()[product_pos] * np.where(quantity >= 12, 0.85, 1.0)
    price = np.round(price * np.clip(price_factor, 0.8, 1.2), 2)
    invoice_no = first_invoice + order_idx
    return pd.DataFrame(
        {
            "order_idx": order_idx,
            "Invoice": invoice_no.astype(str),
            "StockCode": catalogue["product_id"].to_numpy()[product_pos],
            "Description": catalogue["description"].to_numpy()[product_pos],
            "Quantity": quantity,
            "InvoiceDate": orders["invoice_ts"].to_numpy()[order_idx],
            "Price": price,
            "customer_pos": cust_pos,
        }
    )


def _pick_products(catalogue, category, week, rng) -> np.ndarray:
    """Within the chosen category, a product by popularity among those on sale that week."""
    chosen = np.empty(len(category), dtype=np.int64)
    cat_of_product = catalogue["category_index"].to_numpy()
    for c in range(len(CATEGORIES)):
        rows = np.nonzero(category == c)[0]
        members = np.nonzero(cat_of_product == c)[0]
        if len(rows) == 0:
            continue
        weights = catalogue["popularity"].to_numpy()[members]
        cdf = np.cumsum(weights) / weights.sum()
        picks = members[np.minimum(np.searchsorted(cdf, rng.random(len(rows))), len(members) - 1)]
        # A product not on sale that week is swapped for the category's best seller still on sale.
        launch = catalogue["launch_week"].to_numpy()[picks]
        retire = catalogue["retire_week"].to_numpy()[picks]
        off_sale = (week[rows] < launch) | (week[rows] >= retire)
        evergreen = members[(catalogue["launch_week"].to_numpy()[members] == 0)
                            & (catalogue["retire_week"].to_numpy()[members] > week.max())]
        fallback = evergreen[np.argmax(catalogue["popularity"].to_numpy()[evergreen])] if len(evergreen) else picks[0]
        picks[off_sale] = fallback
        chosen[rows] = picks
    return chosen


def _buy_new_in(catalogue, category, week, chosen, rng) -> None:
    """"New in": lines that buy a product launched in the last NOVELTY_WEEKS weeks (see NOVELTY_SHARE),
    in place in `chosen`. A child stream, so every other draw of the shop stays what it was."""
    launch = catalogue["launch_week"].to_numpy()
    retire = catalogue["retire_week"].to_numpy()
    popularity = catalogue["popularity"].to_numpy()
    cat_of_product = catalogue["category_index"].to_numpy()
    takes_new = rng.random(len(category)) < NOVELTY_SHARE
    draw = rng.random(len(category))
    for c in range(len(CATEGORIES)):
        launched = np.flatnonzero((cat_of_product == c) & (launch > 0))
        candidates = np.flatnonzero((category == c) & takes_new)
        for w in np.unique(week[candidates]):
            fresh = launched[(launch[launched] <= w) & (w < launch[launched] + NOVELTY_WEEKS) & (w < retire[launched])]
            if len(fresh) == 0:
                continue
            rows = candidates[week[candidates] == w]
            cdf = np.cumsum(popularity[fresh]) / popularity[fresh].sum()
            chosen[rows] = fresh[np.minimum(np.searchsorted(cdf, draw[rows]), len(fresh) - 1)]


def _cancellations_and_returns(spec, lines, rng, first_return: int = 900000) -> pd.DataFrame:
    """Whole cancelled invoices and single returned lines, as UCI-style `C` invoices.

    Return numbers start at `first_return`: past about 400k orders the default range meets order
    numbers, so a sliced shop passes a base above them (`SLICED_RETURN_BASE`).
    """
    invoices = lines["order_idx"].unique()
    cancelled = set(rng.choice(invoices, int(len(invoices) * spec.cancel_share), replace=False).tolist())
    is_cancelled = lines["order_idx"].isin(cancelled).to_numpy()
    returned = (~is_cancelled) & (rng.random(len(lines)) < spec.return_share)
    refund = lines[is_cancelled | returned].copy()
    delay_days = np.where(is_cancelled[is_cancelled | returned], 0, rng.integers(3, 21, len(refund)))
    refund["InvoiceDate"] = refund["InvoiceDate"] + pd.to_timedelta(delay_days, unit="D") + pd.Timedelta(hours=1)
    whole = is_cancelled[is_cancelled | returned]
    # A cancelled order is one `C` invoice mirroring the original; each return gets its own.
    refund["Invoice"] = np.where(whole, "C" + refund["Invoice"].astype(str),
                                 "C" + (first_return + np.arange(len(refund))).astype(str))
    refund["Quantity"] = -refund["Quantity"]
    end = np.datetime64(spec.start + dt.timedelta(weeks=spec.weeks))
    refund = refund[refund["InvoiceDate"].to_numpy() < end]
    return pd.concat([lines, refund], ignore_index=True)


def _events(spec, lines, customers, catalogue, rng) -> pd.DataFrame:
    bought = lines[(lines["Quantity"] > 0) & lines["customer_pos"].ge(0)]
    view_before = bought.sample(frac=0.9, random_state=int(rng.integers(1 << 30)))
    cart_before = view_before.sample(frac=0.75, random_state=int(rng.integers(1 << 30)))
    frames = []
    for frame, kind, minutes in ((view_before, "view", 45), (cart_before, "cart", 15)):
        frames.append(pd.DataFrame({
            "customer_pos": frame["customer_pos"].to_numpy(),
            "product_id": frame["StockCode"].to_numpy(),
            "event_type": kind,
            "event_ts": frame["InvoiceDate"].to_numpy() - np.timedelta64(minutes, "m"),
        }))
    # Browsing that does not convert: roughly three extra views per order, some carted.
    n_browse = len(bought) // 2
    pick = rng.integers(0, len(bought), n_browse)
    browse_ts = bought["InvoiceDate"].to_numpy()[pick] - rng.integers(1, 14 * 24 * 60, n_browse).astype("timedelta64[m]")
    browse_products = catalogue["product_id"].to_numpy()[rng.integers(0, len(catalogue), n_browse)]
    carted = rng.random(n_browse) < 0.12
    for mask, kind in ((np.ones(n_browse, bool), "view"), (carted, "cart")):
        frames.append(pd.DataFrame({
            "customer_pos": bought["customer_pos"].to_numpy()[pick][mask],
            "product_id": browse_products[mask],
            "event_type": kind,
            "event_ts": browse_ts[mask],
        }))
    events = pd.concat(frames, ignore_index=True)
    events = events[events["event_ts"] >= np.datetime64(spec.start)]
    events.insert(0, "customer_id", customers["customer_id"].to_numpy()[events["customer_pos"].to_numpy()])
    return events.drop(columns="customer_pos").sort_values("event_ts", kind="stable")


def _reviews(spec, lines, customers, rng) -> pd.DataFrame:
    bought = lines[(lines["Quantity"] > 0) & lines["customer_pos"].ge(0)]
    reviewed = bought.sample(frac=0.05, random_state=int(rng.integers(1 << 30)))
    happy = customers["archetype"].to_numpy()[reviewed["customer_pos"].to_numpy()] != "fading"
    rating = np.clip(np.where(happy, rng.normal(4.3, 0.8, len(reviewed)), rng.normal(2.6, 1.0, len(reviewed))), 1, 5)
    end = spec.start + dt.timedelta(weeks=spec.weeks)
    reviews = pd.DataFrame({
        "customer_id": customers["customer_id"].to_numpy()[reviewed["customer_pos"].to_numpy()],
        "product_id": reviewed["StockCode"].to_numpy(),
        "rating": np.round(rating).astype(int),
        "review_ts": reviewed["InvoiceDate"].to_numpy() + np.timedelta64(5, "D"),
    })
    return reviews[reviews["review_ts"] < np.datetime64(end)]


def generate_shop(spec: ShopSpec) -> dict[str, pd.DataFrame]:
    """All tables of one synthetic shop, in memory (one slice: use `write_shop` for big shops)."""
    rng = np.random.default_rng(spec.seed)
    catalogue = _catalogue(spec, rng)
    tables, _ = _generate_slice(spec, catalogue, rng, 0, spec.customers, first_invoice=500000, first_return=900000)
    tables["products"] = catalogue[["product_id", "description", "category", "unit_price"]]
    return tables


def _generate_slice(spec: ShopSpec, catalogue: pd.DataFrame, rng: np.random.Generator, first_customer: int,
                    count: int, first_invoice: int, first_return: int) -> tuple[dict[str, pd.DataFrame], int]:
    """Customers first_customer..first_customer+count-1 with their orders, events and reviews; and the order count."""
    customers = _customers(spec, rng, count, first_id=12000 + first_customer)
    season = _weekly_season(spec.start, spec.weeks)
    orders = _orders(spec, customers, season, rng)
    lines = _lines(spec, customers, catalogue, orders, rng, first_invoice)
    # Guests: a few invoices carry no customer id (they count for product sales only).
    guest_orders = rng.random(len(orders)) < spec.guest_share
    lines["customer_pos"] = np.where(guest_orders[lines["order_idx"].to_numpy()], -1, lines["customer_pos"])
    lines = _cancellations_and_returns(spec, lines, rng, first_return)
    events = _events(spec, lines, customers, catalogue, rng)
    reviews = _reviews(spec, lines, customers, rng)
    pos = lines["customer_pos"].to_numpy()
    lines["Customer ID"] = np.where(pos >= 0, customers["customer_id"].to_numpy()[np.maximum(pos, 0)], "")
    lines["Country"] = np.where(pos >= 0, customers["country"].to_numpy()[np.maximum(pos, 0)], "United Kingdom")
    lines = lines.sort_values(["InvoiceDate", "Invoice"], kind="stable")
    order_lines = lines[["Invoice", "StockCode", "Description", "Quantity", "InvoiceDate", "Price",
                         "Customer ID", "Country"]].reset_index(drop=True)
    truth = customers[["customer_id", "archetype", "signup_week", "churn_week"]]
    return {"order_lines": order_lines, "events": events, "reviews": reviews, "customers_truth": truth}, len(orders)


def shop_slices(spec: ShopSpec, chunk_customers: int | None = None) -> Iterator[dict[str, pd.DataFrame]]:
    """The shop's tables slice by slice: the catalogue with the first, customers `chunk_customers` at a time.

    One slice is `generate_shop` exactly. Later slices draw from their own seeded streams and number
    their customers, invoices and returns after the slices before them.
    """
    chunk = chunk_customers or CHUNK_CUSTOMERS
    if spec.customers <= chunk:
        yield generate_shop(spec)
        return
    rng = np.random.default_rng(spec.seed)
    catalogue = _catalogue(spec, rng)
    first_invoice, first_return = 500000, SLICED_RETURN_BASE
    for index, first_customer in enumerate(range(0, spec.customers, chunk)):
        slice_rng = rng if index == 0 else np.random.default_rng([spec.seed, index])
        count = min(chunk, spec.customers - first_customer)
        tables, orders = _generate_slice(spec, catalogue, slice_rng, first_customer, count, first_invoice, first_return)
        first_invoice += orders
        first_return += int((tables["order_lines"]["Quantity"] < 0).sum())  # refunds; gaps are harmless
        if index == 0:
            tables["products"] = catalogue[["product_id", "description", "category", "unit_price"]]
        yield tables


def write_shop(spec: ShopSpec, out_dir: Path, chunk_customers: int | None = None) -> dict[str, int]:
    """Generate a shop and write it as CSV files (order lines in Online Retail II layout), slice by slice."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    names = ("order_lines", "products", "events", "reviews", "customers_truth")
    counts = dict.fromkeys(names, 0)
    writers: dict[str, tuple[pacsv.CSVWriter, pa.Schema]] = {}
    last_order = None
    try:
        for tables in shop_slices(spec, chunk_customers):
            for name in names:
                if name not in tables:
                    continue
                table = pa.Table.from_pandas(tables[name], preserve_index=False).replace_schema_metadata(None)
                if name not in writers:
                    writers[name] = pacsv.CSVWriter(out_dir / f"{name}.csv", table.schema), table.schema
                writer, schema = writers[name]
                writer.write_table(table.cast(schema))
                counts[name] += len(tables[name])
            newest = tables["order_lines"]["InvoiceDate"].max()
            last_order = newest if last_order is None or newest > last_order else last_order
    finally:
        for writer, _ in writers.values():
            writer.close()
    manifest = {"spec": {k: str(v) for k, v in asdict(spec).items()}, "rows": counts,
                "last_order_ts": str(last_order)}
    (out_dir / "manifest.json").write_text(json.dumps(manifest, indent=2))
    return counts
