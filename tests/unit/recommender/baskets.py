"""Hand-made baskets as raw.order_lines, and the length-2 rules mlxtend's FP-growth finds in them."""
from __future__ import annotations

import datetime as dt

import pandas as pd

from ml.families.recommender.config import AssociationConfig

AS_OF = dt.date(2024, 6, 1)
# Twelve invoices a month apart, newest the day before AS_OF: p1/p2 go together, p3/p4 often, p5 with p1.
# (Not single letters: "B", "D", "M" are fee codes of real exports, left out as non-merchandise.)
BASKETS = [
    ["p1", "p2"], ["p1", "p2", "p3"], ["p1", "p2", "p5"], ["p3", "p4"], ["p3", "p4", "p5"], ["p1", "p3", "p4"],
    ["p2", "p3"], ["p1", "p5"], ["p1", "p2", "p4", "p5"], ["p4", "p6"], ["p3", "p4", "p6"], ["p1", "p2", "p3", "p4"],
]
LOOSE = AssociationConfig(min_support=0.1, min_confidence=0.2, min_lift=0.0, max_rules_per_product=100)


def order_lines(baskets=BASKETS, as_of: dt.date = AS_OF) -> pd.DataFrame:
    """One line per product of each basket (the first twice: a basket is a set), plus a return and
    a single-product invoice, neither of which is a basket."""
    rows = []
    for number, basket in enumerate(baskets):
        day = pd.Timestamp(as_of) - pd.Timedelta(days=1 + 30 * number)
        for line, product in enumerate(basket + basket[:1]):
            rows.append((f"i{number}", line, product, 1, day, f"c{number % 4}", False))
    last = pd.Timestamp(as_of) - pd.Timedelta(days=2)
    rows += [("C1", 0, "p1", -1, last, "c0", True), ("C1", 1, "p6", -1, last, "c0", True),  # a return
             ("s1", 0, "p6", 3, last, "c1", False)]  # one product alone: no pair
    frame = pd.DataFrame(rows, columns=["invoice_id", "line_no", "product_id", "quantity", "invoice_ts",
                                        "customer_id", "is_return"])
    frame["unit_price"] = 1.0
    frame["description"] = "x"
    frame["country"] = "UK"
    return frame


def mlxtend_rules(baskets, config: AssociationConfig) -> pd.DataFrame:
    """antecedent, consequent, support, confidence, lift of FP-growth's single-product rules."""
    from mlxtend.frequent_patterns import association_rules, fpgrowth
    from mlxtend.preprocessing import TransactionEncoder

    encoder = TransactionEncoder()
    onehot = pd.DataFrame(encoder.fit(baskets).transform(baskets), columns=encoder.columns_)
    itemsets = fpgrowth(onehot, min_support=config.min_support, use_colnames=True, max_len=2)
    rules = association_rules(itemsets, num_itemsets=len(baskets), metric="lift", min_threshold=config.min_lift)
    rules = rules[(rules["confidence"] >= config.min_confidence)
                  & (rules["antecedents"].map(len) == 1) & (rules["consequents"].map(len) == 1)]
    return pd.DataFrame({
        "antecedent_product_id": rules["antecedents"].map(lambda s: next(iter(s))),
        "consequent_product_id": rules["consequents"].map(lambda s: next(iter(s))),
        "support": rules["support"], "confidence": rules["confidence"], "lift": rules["lift"],
    }).sort_values(["antecedent_product_id", "consequent_product_id"], ignore_index=True)


def sorted_rules(frame: pd.DataFrame) -> pd.DataFrame:
    columns = ["antecedent_product_id", "consequent_product_id", "support", "confidence", "lift"]
    out = frame[columns].sort_values(columns[:2], ignore_index=True)
    return out.astype({"antecedent_product_id": str, "consequent_product_id": str,
                       "support": float, "confidence": float, "lift": float})
