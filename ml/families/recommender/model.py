"""The deployable recommender: a fitted model plus the history and ids it needs to answer
"customer_id -> top-N product ids with scores", and the recipe to refit it on other data.

It is the family's predictor (`predict(frame, k=...)`), logged through `ml.pyfunc` (see `pyfunc`).
Saved, it holds no customer id: its rows are found by keyed pseudonym (`ml.pseudonyms`).
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import pickle
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from ml.families.recommender.candidates import FittedModel, fit_model, recommend_rows, top_n
from ml.families.recommender.config import RecommenderConfig
from ml.families.recommender.interactions import InteractionMatrix, among
from ml.pseudonyms import PseudonymIndex
from ml.sql import require_columns

OUTPUT_COLUMNS = ["customer_id", "rank", "product_id", "score", "source"]
SOURCE_MODEL = "model"
SOURCE_SEGMENT = "fallback_segment"
SOURCE_POPULAR = "fallback_popular"


@dataclass
class Recommender:
    model: FittedModel
    train: InteractionMatrix
    allowed: np.ndarray  # bool per item: still sold at the training cut-off
    config: RecommenderConfig
    as_of: dt.date
    # Set once saved: the training rows' customers by pseudonym; `train.users` is then empty.
    pseudonyms: PseudonymIndex | None = None

    @classmethod
    def fit(
        cls,
        kind: str,
        train: InteractionMatrix,
        allowed: np.ndarray,
        config: RecommenderConfig,
        as_of: dt.date,
        params: dict | None = None,
        rules: pd.DataFrame | None = None,
        catalogue: pd.DataFrame | None = None,
    ) -> Recommender:
        model = fit_model(kind, train, config, params, rules, catalogue)
        return cls(model, train, np.asarray(allowed, bool), config, as_of)

    def refit(self, train: InteractionMatrix, allowed: np.ndarray, as_of: dt.date,
              rules: pd.DataFrame | None = None, catalogue: pd.DataFrame | None = None) -> Recommender:
        """The same recipe (kind, hyper-parameters, settings) fitted on other history (and the
        association rules mined from it, the catalogue), so that two registered models can be
        compared on one holdout without either having seen it."""
        return Recommender.fit(self.model.kind, train, allowed, self.config, as_of, self.model.params, rules,
                               catalogue)

    def user_index(self, customer_ids) -> np.ndarray:
        """Training row of each customer, -1 for customers the model never saw."""
        if self.pseudonyms is not None:
            return self.pseudonyms.rows_of(customer_ids)
        return self.train.user_index(customer_ids)

    def _allowed(self, active_products: Iterable[str] | None) -> np.ndarray:
        if active_products is None:
            return self.allowed
        return self.allowed & among(self.train.items, active_products)

    def recommend(
        self,
        customer_ids: Iterable[str],
        k: int | None = None,
        active_products: Iterable[str] | None = None,
    ) -> pd.DataFrame:
        """Top-k rows per customer (OUTPUT_COLUMNS). Customers the model never saw get the most
        popular items of the last `recent_days` (source `fallback_popular`).

        `active_products` narrows the catalogue to products still sold at scoring time.
        """
        k = int(k or self.config.top_n)
        customers = pd.Series(list(customer_ids), dtype=object).astype(str).drop_duplicates()
        rows = self.user_index(customers)
        allowed = self._allowed(active_products)
        frames = []
        known = rows >= 0
        known_customers, done = customers.to_numpy()[known], 0
        for batch, items, scores in recommend_rows(
            self.model, self.train, rows[known], self.config, allowed=allowed, k=k
        ):  # batches follow the rows in order
            frames.append(self._rows_frame(known_customers[done : done + len(batch)], items, scores, SOURCE_MODEL))
            done += len(batch)
        unknown = customers.to_numpy()[~known]
        if len(unknown):
            popular = fit_model("recent_popularity", self.train, self.config).item_scores
            items, scores = top_n(popular[None, :], k, allowed=allowed)
            frames.append(
                self._rows_frame(
                    unknown, np.repeat(items, len(unknown), 0), np.repeat(scores, len(unknown), 0),
                    SOURCE_POPULAR,
                )
            )
        if not frames:
            return pd.DataFrame({c: pd.Series(dtype=object) for c in OUTPUT_COLUMNS})
        return pd.concat(frames, ignore_index=True)

    def predict(self, frame: pd.DataFrame, k: int | None = None) -> pd.DataFrame:
        """The pyfunc's answer. Input: a frame with `customer_id`; `k` defaults to the config's top_n.
        Output: OUTPUT_COLUMNS, source `model` or `fallback_popular`."""
        require_columns(frame, ["customer_id"], "recommender input")
        return self.recommend(frame["customer_id"], k=k)

    def _rows_frame(self, customers, items, scores, source) -> pd.DataFrame:
        k = items.shape[1]
        frame = pd.DataFrame(
            {
                "customer_id": np.repeat(np.asarray(customers, dtype=object), k),
                "rank": np.tile(np.arange(1, k + 1), len(customers)),
                "item": items.ravel(),
                "score": scores.ravel().astype(np.float64),
                "source": source,
            }
        )
        frame = frame[frame["item"] >= 0]
        frame.insert(2, "product_id", self.train.items[frame["item"].to_numpy()])
        return frame.drop(columns="item").reset_index(drop=True)

    # -- persistence ---------------------------------------------------------------------------
    def save(self, path: str | Path) -> Path:
        """Pickle the recommender with its customers' ids replaced by keyed pseudonyms."""
        path = Path(path)
        stored = self
        if self.pseudonyms is None:
            stored = dataclasses.replace(
                self, train=dataclasses.replace(self.train, users=np.empty(0, dtype=object)),
                pseudonyms=PseudonymIndex.build(self.train.users))
        with path.open("wb") as handle:
            pickle.dump(stored, handle, protocol=pickle.HIGHEST_PROTOCOL)
        return path

    @staticmethod
    def load(path: str | Path) -> Recommender:
        with Path(path).open("rb") as handle:
            loaded = pickle.load(handle)
        if not isinstance(loaded, Recommender):
            raise TypeError(f"{path} does not hold a Recommender")
        return loaded
