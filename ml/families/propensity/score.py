"""Score: every customer active at D, in chunks, into `marts.user_propensity`.

Deciles need the whole distribution, so a first pass keeps only (customer_id, p) per chunk and the
second writes mart rows. Scoring is never sampled.
"""
from __future__ import annotations

import datetime as dt

import numpy as np

from ml import catalog, marts
from ml.families.base import ModelRef
from ml.families.propensity import features
from ml.families.propensity.config import load
from ml.families.propensity.metrics import assign_deciles
from ml.families.propensity.model import build_score_rows
from ml.warehouse import Warehouse


def score(wh: Warehouse, as_of: dt.date, champion: ModelRef) -> int:
    from ml import pyfunc  # MLflow only when scoring, not when the family is imported

    config = load()
    model = pyfunc.load_pyfunc(champion.uri)
    if not features.has_origin(wh, as_of, as_of):
        features.build_features(wh, as_of)  # a score run for a date that no training run featurised
    customers = features.list_customers(wh, as_of, as_of)
    batch = config.score_batch_customers
    ids, probs = [], []
    for start in range(0, len(customers), batch):
        chunk = customers[start:start + batch]
        examples = features.read_examples(wh, as_of, as_of, customers=(chunk[0], chunk[-1]), weeks=config.weeks)
        ids.append(examples.inputs["customer_id"].to_numpy())
        probs.append(model.predict(examples.inputs)["p_purchase_30d"].to_numpy())
    ids = np.concatenate(ids) if ids else np.array([], dtype=str)
    p = np.concatenate(probs) if probs else np.array([], dtype=float)
    deciles = assign_deciles(p)

    def chunks():
        for start in range(0, max(len(ids), 1), batch):
            part = slice(start, start + batch)
            yield build_score_rows(ids[part], p[part], deciles[part])

    return marts.write_mart(wh, catalog.USER_PROPENSITY, chunks(), as_of, champion)
