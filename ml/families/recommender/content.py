"""Content vectors of products from what the catalogue (raw.products) carries, for every product a
matrix has a column for, bought or not: what lets the hybrid rank a product nobody has bought yet,
what `metrics.intra_list_diversity` compares, and what `reasons` calls "similar to".

One sparse row per product, three blocks, each L2-normalised, weighted, then the row normalised:

  words     TF-IDF of the description's words (letters only: a product number links nothing);
            a word only one product carries is dropped (it can make no two products similar)
  category  one-hot, where the catalogue has one
  price     one-hot band: `PRICE_BANDS` quantiles of the catalogue's log prices

A product missing from the catalogue gets a zero row (similar to nothing).
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import scipy.sparse as sp
from sklearn.preprocessing import normalize

from ml import catalog

PRICE_BANDS = 5
# How much each block counts before the row is normalised: words and category say what a product
# is; the price band only refines it (two candles at 2 and 20 are still both candles).
BLOCK_WEIGHTS = {"words": 1.0, "category": 1.0, "price": 0.5}
MAX_WORDS = 50_000  # vocabulary bound on a huge catalogue (Complete Journey: ~90k products)
CATALOGUE_COLUMNS = ("product_id", "description", "category", "unit_price")


def read_catalogue(wh) -> pd.DataFrame | None:
    """product_id, description, category, unit_price of raw.products (None when it is empty or absent);
    a column the table lacks comes back empty."""
    if not wh.table_exists(catalog.RAW_PRODUCTS):
        return None
    present = set(wh.columns(catalog.RAW_PRODUCTS))
    select = ", ".join(c if c in present else f"NULL AS {c}" for c in CATALOGUE_COLUMNS)
    frame = wh.query(f"SELECT {select} FROM {catalog.RAW_PRODUCTS} WHERE product_id IS NOT NULL")
    return None if frame.empty else frame


def aligned(items: np.ndarray, catalogue: pd.DataFrame | None) -> pd.DataFrame:
    """One catalogue row per item (in the items' order), empty where the catalogue lacks the product."""
    wanted = pd.DataFrame({"product_id": pd.Series(items, dtype=object).astype(str)})
    if catalogue is None or catalogue.empty:
        return wanted.assign(description=None, category=None, unit_price=np.nan)
    table = catalogue.assign(product_id=catalogue["product_id"].astype(str)).drop_duplicates("product_id")
    return wanted.merge(table[list(CATALOGUE_COLUMNS)], on="product_id", how="left")


def content_vectors(items: np.ndarray, catalogue: pd.DataFrame | None) -> sp.csr_matrix:
    """Items x features, float32, rows of unit length (zero for products without catalogue data)."""
    rows = aligned(items, catalogue)
    blocks = [_words(rows["description"]), _one_hot(rows["category"]), _one_hot(_price_band(rows["unit_price"]))]
    weighted = [normalize(b) * w for b, w in zip(blocks, BLOCK_WEIGHTS.values()) if b.shape[1]]
    if not weighted:
        return sp.csr_matrix((len(rows), 0), dtype=np.float32)
    return normalize(sp.hstack(weighted, format="csr")).astype(np.float32)


def _words(descriptions: pd.Series) -> sp.csr_matrix:
    from sklearn.feature_extraction.text import TfidfVectorizer

    text = descriptions.fillna("").astype(str).tolist()
    try:
        return TfidfVectorizer(token_pattern=r"(?u)\b[^\W\d_]{2,}\b", min_df=2, max_features=MAX_WORDS,
                               dtype=np.float32).fit_transform(text).tocsr()
    except ValueError:  # no word two products share (or no description at all)
        return sp.csr_matrix((len(text), 0), dtype=np.float32)


def _price_band(prices: pd.Series) -> pd.Series:
    """The quantile band (0..PRICE_BANDS-1) of each positive price, on log prices; None without one."""
    price = pd.to_numeric(prices, errors="coerce").to_numpy(dtype=float)
    known = np.isfinite(price) & (price > 0)
    band = pd.Series([None] * len(price), dtype=object)
    if known.any():
        logs = np.log(price[known])
        edges = np.unique(np.quantile(logs, np.linspace(0, 1, PRICE_BANDS + 1)[1:-1]))
        band[known] = [f"band{b}" for b in np.searchsorted(edges, logs, side="right")]
    return band


def _one_hot(values: pd.Series) -> sp.csr_matrix:
    codes, _ = pd.factorize(values.where(values.notna(), None).astype(object), use_na_sentinel=True)
    codes = np.asarray(codes)
    keep = codes >= 0
    width = int(codes.max()) + 1 if keep.any() else 0
    return sp.csr_matrix((np.ones(int(keep.sum()), np.float32), (np.flatnonzero(keep), codes[keep])),
                         shape=(len(codes), width), dtype=np.float32)
