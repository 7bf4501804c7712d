"""Every knob of the recommender in one frozen dataclass, with the defaults a retail shop needs.

A deployment overrides fields in config/families/recommender.yaml (`load`); nothing here reads the
environment. Each step loads one `RecommenderConfig` and passes it down, so tests can change a
single field with `dataclasses.replace`.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path

from ml.families.config import load_config

NAME = "recommender"


@dataclass(frozen=True)
class AssociationConfig:
    """"Frequently bought together": pair rules over baskets, mined in the warehouse (`associations`).

    Overridden under `associations:` in config/families/recommender.yaml.
    """

    lookback_days: int = 365  # baskets: non-return invoices in [D - lookback_days, D)
    # Only the products in most baskets take part: the pair count grows with the square of the
    # products kept, so this bounds time and memory on a huge catalogue (2,000 -> at most 4M pairs).
    max_products: int = 2_000
    # A wholesale invoice of 800 lines is a stock order, not a basket, and alone brings 640,000
    # pairs: baskets with more kept products than this are left out (0 keeps every basket).
    max_basket_products: int = 100
    min_support: float = 0.005  # share of baskets holding both products
    min_confidence: float = 0.05  # share of the antecedent's baskets that also hold the consequent
    min_lift: float = 1.5  # together this many times more often than if bought independently
    max_rules_per_product: int = 10  # consequents kept per antecedent, highest lift first


@dataclass(frozen=True)
class RecommenderConfig:
    # -- interactions ------------------------------------------------------------------------
    half_life_days: float = 180.0  # a purchase this old counts half as much as one today
    cart_weight: float = 0.3  # one add-to-cart ~ a third of a purchased unit
    view_weight: float = 0.05  # views are plentiful and weak
    quantity_cap: int = 24  # wholesale lines of 500 units must not drown every other signal
    # -- evaluation --------------------------------------------------------------------------
    horizon_days: int = 28  # test window [D-h, D); validation window [D-2h, D-h)
    top_n: int = 10  # N: products recommended per customer, and the k of every metric@k
    # Retail customers rebuy: when True, already-bought items may be recommended and count as hits.
    allow_repurchase: bool = True
    # -- catalogue ---------------------------------------------------------------------------
    # A product with no sale (by anyone, guests included) in this many days is no longer sold.
    # Six weeks: long enough for slow movers of a small shop, short enough that a delisted
    # product drops out within two months.
    active_item_days: int = 42
    recent_days: int = 30  # window of the "recent popularity" baseline and of the fallback
    # A product first sold within this many days of the cut-off is new: the share of recommended
    # slots holding one is reported (new_product_share_at_N) beside NDCG.
    new_product_days: int = 28
    # -- models ------------------------------------------------------------------------------
    cosine_neighbours: int = 100  # neighbours kept per item by item-item cosine
    # Measured on generated shops: few factors and low alpha win on small catalogues, more factors
    # on large ones, so the grid spans both; factors above n_items / 4 are skipped (see
    # ml.families.recommender.evaluate.candidate_params).
    als_grid: dict[str, tuple] = field(
        default_factory=lambda: {
            "factors": (8, 16, 32, 64),
            "regularization": (0.1, 1.0),
            "alpha": (1.0, 10.0),
            "iterations": (15,),
        }
    )
    max_trials: int = 8  # grid points tried on the validation split, sampled with `seed`
    # Hybrid: score = (1 - w) * ALS (scaled to 1 per customer) + w * content similarity, w raised
    # towards 1 for products few customers bought (prior p: w + (1 - w) * p / (p + buyers)); w and p
    # are picked together on the validation split from these. No w of 0: that would be ALS itself,
    # and new products, which ALS cannot score, would never appear.
    content_weight_grid: tuple[float, ...] = (0.05, 0.1, 0.2, 0.35, 0.5)
    content_prior_grid: tuple[float, ...] = (0.0, 3.0, 10.0, 30.0)
    # Tuning fits max_trials ALS models; on a large shop a hash sample of this many customers
    # ranks the grid points as all of them would, at a fraction of the time and memory. The test
    # split (the reported metrics) and the final fit always use every customer.
    tuning_max_users: int = 200_000  # customers in the tuning sample
    seed: int = 42  # ALS initialisation and the sampling of the grid
    threads: int = 2  # implicit's own threads; BLAS is pinned to 1 (see ml.families.recommender.candidates)
    # Scoring holds a (users x items) block; its size, not the catalogue, bounds memory:
    # rows per batch = batch_cells // n_items (4M cells ~ 64 MiB with indices and copies).
    batch_cells: int = 4_000_000  # cells of one ranking block
    batch_users: int = 5_000  # upper bound on rows per batch, whatever the catalogue size
    # -- I/O chunk sizes (memory, not the model: not logged as run params) ---------------------
    read_batch_rows: int = 50_000  # interaction rows per batch streamed out of the warehouse
    score_chunk_customers: int = 20_000  # customers per chunk written to the mart
    # -- frequently bought together (marts.product_associations) --------------------------------
    associations: AssociationConfig = field(default_factory=AssociationConfig)

    def cutoffs(self, as_of: dt.date) -> dict[str, dt.date]:
        """The three history cut-offs of one training run: validation, test and final fit."""
        h = dt.timedelta(days=self.horizon_days)
        return {"validation": as_of - 2 * h, "test": as_of - h, "final": as_of}


def load(path: Path | None = None) -> RecommenderConfig:
    """The defaults above with the overrides of config/families/recommender.yaml (or `path`)."""
    return load_config(NAME, RecommenderConfig, path)
