"""Recommendations for customers the model has never seen.

Rule: the products most customers of the same segment bought recently (source `fallback_segment`),
topped up with the products most customers overall bought recently (`fallback_popular`) when the
segment has fewer than k, or when the customer has no segment (e.g. no segmentation as of that
date). Only products still sold are eligible: the caller passes popularity already restricted to
active products.
"""
from __future__ import annotations

import pandas as pd

from ml.families.recommender.model import OUTPUT_COLUMNS, SOURCE_POPULAR, SOURCE_SEGMENT
from ml.sql import require_columns

_OVERALL = "\x00overall"  # key of the overall list; cannot clash with a real segment name


def _ranked(popularity: pd.DataFrame, k: int) -> pd.DataFrame:
    ordered = popularity.sort_values(["buyers", "product_id"], ascending=[False, True], kind="stable")
    return ordered.head(k)


def fallback_lists(overall: pd.DataFrame, k: int, by_segment: pd.DataFrame | None = None) -> pd.DataFrame:
    """One ranked list of k products per segment plus the overall list.

    overall:    product_id, buyers
    by_segment: segment, product_id, buyers (optional)
    Returns key, rank, product_id, score, source.
    """
    require_columns(overall, ["product_id", "buyers"], "overall popularity")
    top = _ranked(overall, k)
    lists = [
        pd.DataFrame(
            {"key": _OVERALL, "product_id": top["product_id"].astype(str), "score": top["buyers"],
             "source": SOURCE_POPULAR}
        )
    ]
    if by_segment is not None and not by_segment.empty:
        require_columns(by_segment, ["segment", "product_id", "buyers"], "segment popularity")
        for segment, group in by_segment.groupby("segment", sort=True):
            own = _ranked(group, k)
            pad = top[~top["product_id"].isin(own["product_id"])].head(k - len(own))
            lists.append(
                pd.DataFrame(
                    {
                        "key": str(segment),
                        "product_id": pd.concat([own["product_id"], pad["product_id"]]).astype(str),
                        "score": pd.concat([own["buyers"], pad["buyers"]]),
                        "source": [SOURCE_SEGMENT] * len(own) + [SOURCE_POPULAR] * len(pad),
                    }
                )
            )
    out = pd.concat(lists, ignore_index=True)
    out["score"] = out["score"].astype("float64")
    out["rank"] = out.groupby("key").cumcount() + 1
    return out


def fallback_recommendations(
    customers: pd.DataFrame,
    overall: pd.DataFrame,
    k: int,
    by_segment: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Top-k fallback rows (OUTPUT_COLUMNS) for `customers` (customer_id, optional segment)."""
    require_columns(customers, ["customer_id"], "customers")
    lists = fallback_lists(overall, k, by_segment)
    known_segments = set(lists["key"])
    segment = customers["segment"] if "segment" in customers.columns else pd.Series(pd.NA, index=customers.index)
    key = segment.astype(object).where(segment.notna(), _OVERALL).astype(str)
    key = key.where(key.isin(known_segments), _OVERALL)
    wanted = pd.DataFrame({"customer_id": customers["customer_id"].astype(str), "key": key})
    out = wanted.merge(lists, on="key", how="inner").sort_values(["customer_id", "rank"], kind="stable")
    return out[OUTPUT_COLUMNS].reset_index(drop=True)
