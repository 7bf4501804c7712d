"""Score every active customer with the champion, in batches, into marts.user_segments."""
from __future__ import annotations

import datetime as dt

import pandas as pd

from ml import catalog, marts
from ml.families.base import ModelRef
from ml.families.segmentation import config
from ml.families.segmentation.features import SEGMENT_FEATURES, scoring_sql
from ml.families.segmentation.pyfunc import load
from ml.warehouse import Warehouse


def score(wh: Warehouse, as_of: dt.date, champion: ModelRef) -> int:
    cfg = config.load()
    model = load(champion)

    def chunks():
        for batch in wh.query_batches(scoring_sql(as_of), cfg.score_batch_rows):
            scored = model.predict(batch[list(SEGMENT_FEATURES)])
            yield pd.DataFrame({"customer_id": batch["customer_id"].astype(str).to_numpy(),
                                "segment_id": scored["segment_id"].to_numpy(),
                                "segment_name": scored["segment_name"].astype(str).to_numpy(),
                                "segment_rule": scored["segment_rule"].astype(str).to_numpy()})

    return marts.write_mart(wh, catalog.USER_SEGMENTS, chunks(), as_of, champion)
