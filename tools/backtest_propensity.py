"""Backtest the propensity family's model kinds over several monthly cutoffs of one warehouse.

One holdout is ~200 customers on a small shop, so its AUC moves by +-0.03 from month to month; this
repeats the family's time layout (holdout D-30, training origins D-60, D-88, ..., the newest validating)
at `--cutoffs` as-of dates 28 days apart and prints each kind's holdout ROC AUC, the kind the family's
selection rule picks, and ranking by recency. Inputs come from the pandas reference
(`ml.families.propensity.dataset`), which the warehouse SQL matches (tested). Nothing is logged or registered.

    VALUEFLOW_HOME=/tmp/vf python -m ml run --source export.xlsx      # loads the warehouse
    VALUEFLOW_HOME=/tmp/vf python tools/backtest_propensity.py --cutoffs 8
"""
from __future__ import annotations

import argparse
import datetime as dt
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def main(argv: list[str] | None = None) -> int:
    import numpy as np
    import pandas as pd

    from ml import data
    from ml.families.propensity.config import load
    from ml.families.propensity.dataset import Examples, build_examples_at, split_by_origin, stack_examples
    from ml.families.propensity.labels import plan_origins
    from ml.families.propensity.metrics import score_probabilities, score_ranking, score_recency_baseline
    from ml.families.propensity.model import KINDS, train_propensity_model
    from ml.families.propensity.selection import choose
    from ml.warehouse import connect

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--as-of", dest="as_of", default=None, help="newest cutoff (default: latest export)")
    parser.add_argument("--cutoffs", type=int, default=8)
    parser.add_argument("--kinds", default="logistic,lightgbm", help=f"subset of {','.join(KINDS)} (cnn is slow)")
    args = parser.parse_args(argv)
    kinds = args.kinds.split(",")
    config = load()
    with connect() as wh:
        newest = dt.date.fromisoformat(args.as_of) if args.as_of else pd.Timestamp(
            wh.scalar("SELECT max(as_of_date) FROM ops.ingest_runs")).date()
        lines, events, products = data.read_order_lines(wh, newest), data.read_events(wh, newest), data.read_products(wh)
    cache: dict[dt.date, Examples] = {}

    def at(origin: dt.date) -> Examples:
        if origin not in cache:
            cache[origin] = build_examples_at(lines, origin, events, config.weeks, products=products)
        return cache[origin]

    rows = []
    for k in range(args.cutoffs):
        as_of = newest - dt.timedelta(days=config.step_days * k)
        holdout_origin, origins = plan_origins(as_of, config)
        parts = [at(o) for o in origins if len(at(o))]
        holdout = at(holdout_origin)
        if len(parts) < 2 or len(np.unique(holdout.labels)) < 2:
            break
        fit, val = split_by_origin(stack_examples(parts), config.seed, config.validation_share)
        row = {"as_of": as_of, "holdout": len(holdout),
               "recency": score_recency_baseline(holdout.labels, holdout.inputs["recency_days"])["roc_auc"]}
        candidates = {}
        for kind in kinds:
            model = train_propensity_model(kind, fit, val, config)
            candidates[kind] = {"validation": score_ranking(val.labels, model.predict_proba(val.inputs))}
            row[kind] = score_probabilities(holdout.labels, model.predict_proba(holdout.inputs))["roc_auc"]
        row["chosen"] = choose(candidates)
        row["chosen_auc"] = row[row["chosen"]]
        rows.append(row)
        print(row, flush=True)
    table = pd.DataFrame(rows).set_index("as_of")
    pd.set_option("display.width", 200)
    print(table.round(3).to_string())
    numeric = table[["recency", *kinds, "chosen_auc"]]
    print("mean  " + "  ".join(f"{c} {v:.3f}" for c, v in numeric.mean().items()))
    print("above recency  " + "  ".join(f"{c} {int((numeric[c] > numeric['recency']).sum())}/{len(numeric)}"
                                        for c in numeric if c != "recency"))
    print(f"({config.n_train_origins} training origins per cutoff)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
