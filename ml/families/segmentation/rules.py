"""A plain rule per segment that a marketer can read: "last order ≤ 30 days ago and ≥ 5 orders".

For each segment a shallow decision tree (this segment against the rest, classes weighted so a small
segment still gets leaves) is fitted on the features in their own units (days, orders, money; not
the scaled, logged model input). Sibling leaves that predict alike are merged into their parent;
of the leaves predicting the segment, the one with the best F1 (coverage and precision together)
becomes the rule: its path as structured conditions, repeated bounds on one feature merged into the
tightest, thresholds rounded to a few significant digits, conditions that change nobody's match dropped.
Coverage (share of the segment the rule matches) and precision (share of the matches that are in
the segment) are measured by applying the final, rounded conditions to the frame, so `matches`
reproduces them exactly.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ml.families.segmentation.config import SegmentationConfig
from ml.families.segmentation.features import SEGMENT_FEATURES

# How each feature reads in a rule: prefix, suffix. Counts and days are whole numbers in the warehouse.
PHRASES = {
    "recency_days": ("last order ", " days ago"),
    "frequency": ("", " orders"),
    "monetary": ("net spend ", ""),
    "avg_order_value": ("average order ", ""),
    "tenure_days": ("first order ", " days ago"),
    "distinct_products": ("", " distinct products"),
    "return_rate": ("return rate ", ""),
}
INTEGER_FEATURES = frozenset({"recency_days", "frequency", "tenure_days", "distinct_products"})
PERCENT_FEATURES = frozenset({"return_rate"})
SYMBOLS = {"<=": "≤", ">=": "≥"}
EVERYONE = "all customers"  # the text of a rule without conditions (the tree found no split)


@dataclass(frozen=True)
class Condition:
    feature: str
    op: str  # "<=" or ">=", both inclusive
    value: float


@dataclass(frozen=True)
class SegmentRule:
    segment_id: int
    segment_name: str
    conditions: tuple[Condition, ...]
    coverage: float  # share of the segment's customers the rule matches
    precision: float  # share of the customers it matches that are in the segment
    customers: int  # the segment's customers in the frame it was fitted on

    @property
    def text(self) -> str:
        return render(self.conditions)

    def record(self) -> dict:
        """The rule as one JSON-able record (segment_rules.json, the profile table)."""
        return {"segment_id": self.segment_id, "segment_name": self.segment_name, "rule": self.text,
                "coverage": self.coverage, "precision": self.precision, "customers": self.customers,
                "conditions": [[c.feature, c.op, c.value] for c in self.conditions]}


def rule_values(frame: pd.DataFrame, features=SEGMENT_FEATURES) -> pd.DataFrame:
    """The columns rules are fitted and applied on; a missing value counts as 0, as in the model input."""
    return frame[list(features)].astype("float64").fillna(0.0)


def matches(frame: pd.DataFrame, conditions: tuple[Condition, ...] | list[Condition]) -> np.ndarray:
    """Which rows of `frame` a rule's conditions match (all of them)."""
    values = rule_values(frame, sorted({c.feature for c in conditions}))
    mask = np.ones(len(frame), dtype=bool)
    for c in conditions:
        column = values[c.feature].to_numpy()
        mask &= column <= c.value if c.op == "<=" else column >= c.value
    return mask


def coverage_and_precision(mask: np.ndarray, in_segment: np.ndarray) -> tuple[float, float]:
    hits = int((mask & in_segment).sum())
    return hits / max(int(in_segment.sum()), 1), hits / max(int(mask.sum()), 1)


def render(conditions: tuple[Condition, ...] | list[Condition]) -> str:
    """Plain text, features in SEGMENT_FEATURES order; both bounds on one feature read as a range."""
    if not conditions:
        return EVERYONE
    order = {f: i for i, f in enumerate(PHRASES)}
    by_feature: dict[str, dict[str, float]] = {}
    for c in sorted(conditions, key=lambda c: order.get(c.feature, len(order))):
        by_feature.setdefault(c.feature, {})[c.op] = c.value
    parts = []
    for feature, bounds in by_feature.items():
        prefix, suffix = PHRASES.get(feature, (f"{feature} ", ""))
        if len(bounds) == 2:
            body = f"{_number(feature, bounds['>='])}–{_number(feature, bounds['<='])}"
        else:
            (op, value), = bounds.items()
            body = f"{SYMBOLS[op]} {_number(feature, value)}"
        parts.append(f"{prefix}{body}{suffix}")
    return " and ".join(parts)


def _number(feature: str, value: float) -> str:
    if feature in PERCENT_FEATURES:
        return f"{value * 100:.4g}%"
    if float(value).is_integer():
        return f"{int(value):,}"
    return f"{value:,.6g}"


def merge(conditions: list[tuple[str, str, float]]) -> list[tuple[str, str, float]]:
    """Repeated bounds on one feature become the tightest: the lowest upper bound, the highest lower one.

    Input and output are (feature, op, threshold) with the tree's ops, "<=" and ">" (strict)."""
    tightest: dict[tuple[str, str], float] = {}
    for feature, op, value in conditions:
        key = (feature, op)
        if key not in tightest:
            tightest[key] = value
        else:
            tightest[key] = min(tightest[key], value) if op == "<=" else max(tightest[key], value)
    return [(feature, op, value) for (feature, op), value in tightest.items()]


def round_condition(feature: str, op: str, threshold: float, column: np.ndarray, digits: int) -> Condition:
    """A tree bound (`x <= t` or `x > t`) as an inclusive condition with a round value.

    The roundest value (fewest significant digits, up to `digits`) that sits in the gap between the
    frame's values on either side of the threshold is taken, so rounding changes nobody's match;
    where the gap is narrower than that, the value at `digits` significant digits is taken and the
    rule's coverage (measured afterwards) says what the rounding cost. Counts and days stay whole.
    """
    below, above = column[column <= threshold], column[column > threshold]
    lo = float(below.max()) if below.size else -math.inf
    hi = float(above.min()) if above.size else math.inf
    inclusive = "<=" if op == "<=" else ">="
    whole = feature in INTEGER_FEATURES

    def fits(value: float) -> bool:  # x <= value keeps exactly [.., lo]; x >= value exactly [hi, ..]
        return lo <= value < hi if inclusive == "<=" else lo < value <= hi

    fallback = None
    digits = max(digits, 1)
    for sig in range(1, digits + 1):
        for value in _rounded(threshold, sig, whole, down=inclusive == "<="):
            if fits(value):
                return Condition(feature, inclusive, value)
            if sig == digits and fallback is None:
                fallback = value
    return Condition(feature, inclusive, fallback)


def _rounded(value: float, sig: int, whole: bool, down: bool) -> list[float]:
    """Candidates for `value` at `sig` significant digits: nearest, then towards the kept side, then away."""
    if value == 0:
        return [0.0]
    step = 10.0 ** (math.floor(math.log10(abs(value))) - sig + 1)
    if whole:
        step = max(step, 1.0)
    nearest, floor, ceil = (round(value / step) * step, math.floor(value / step) * step,
                            math.ceil(value / step) * step)
    candidates = [nearest, floor, ceil] if down else [nearest, ceil, floor]
    # a float step leaves 0.30000000000000004; the shortest repr of the intended number is kept
    return [float(f"{c:.{max(sig, 1) + 6}g}") for c in candidates]


def _simplify(frame: pd.DataFrame, conditions: list[Condition]) -> tuple[Condition, ...]:
    """Drop each condition whose removal changes no customer's match on `frame` (e.g. ≥ 1 order)."""
    kept = list(conditions)
    mask = matches(frame, kept)
    for condition in list(kept):
        rest = [c for c in kept if c is not condition]
        if np.array_equal(matches(frame, rest), mask):
            kept = rest
    return tuple(kept)


def _leaf_paths(tree, segment_class: int) -> tuple[dict[int, list[tuple[int, str, float]]], dict[int, int]]:
    """The tree's leaves, siblings that predict alike merged into their parent (a split that changes
    no prediction says nothing): leaf id -> the (feature index, op, threshold) bounds on the way
    to it, and each of the tree's own leaves -> the merged leaf it belongs to."""
    inner = tree.tree_
    predicted = inner.value[:, 0, :].argmax(axis=1) == segment_class

    def alike(node: int) -> bool:  # every leaf below `node` predicts what `node` predicts
        left, right = inner.children_left[node], inner.children_right[node]
        if left == right:
            return True
        return (alike(left) and alike(right) and predicted[left] == predicted[right] == predicted[node])

    paths: dict[int, list[tuple[int, str, float]]] = {}
    owner: dict[int, int] = {}
    stack = [(0, [], None)]
    while stack:
        node, path, merged_into = stack.pop()
        left, right = inner.children_left[node], inner.children_right[node]
        if merged_into is None and alike(node):
            paths[node], merged_into = path, node
        if left == right:
            owner[node] = merged_into
            continue
        feature, threshold = int(inner.feature[node]), float(inner.threshold[node])
        stack.append((left, [*path, (feature, "<=", threshold)], merged_into))
        stack.append((right, [*path, (feature, ">", threshold)], merged_into))
    return paths, owner


def _best_leaf(leaves: np.ndarray, in_segment: np.ndarray, predicts_segment: set[int]) -> int:
    """Of the leaves the tree predicts as the segment, the best F1 (most coverage on a tie); where
    it predicts none, the best F1 of all."""
    stats = []
    for leaf in np.unique(leaves):
        coverage, precision = coverage_and_precision(leaves == leaf, in_segment)
        f1 = 2 * coverage * precision / (coverage + precision) if coverage + precision else 0.0
        stats.append((int(leaf), f1, coverage))
    candidates = [s for s in stats if s[0] in predicts_segment] or stats
    return max(candidates, key=lambda s: (s[1], s[2]))[0]


def segment_rule(frame: pd.DataFrame, in_segment: np.ndarray, config: SegmentationConfig,
                 features=SEGMENT_FEATURES) -> tuple[Condition, ...]:
    """The conditions describing the customers marked `in_segment` among `frame`'s rows."""
    from sklearn.tree import DecisionTreeClassifier

    values = rule_values(frame, features)
    size = int(in_segment.sum())
    # a leaf is at least this share of the segment, so no rule describes a handful of customers
    tree = DecisionTreeClassifier(max_depth=config.rule_max_depth, class_weight="balanced",
                                  min_samples_leaf=max(1, math.ceil(config.rule_min_leaf_share * size)),
                                  random_state=config.seed)
    tree.fit(values.to_numpy(), in_segment)
    segment_class = list(tree.classes_).index(True)
    paths, owner = _leaf_paths(tree, segment_class)
    leaves = np.vectorize(owner.get)(tree.apply(values.to_numpy()))
    predicts = {n for n in paths if tree.tree_.value[n, 0].argmax() == segment_class}
    path = paths[_best_leaf(leaves, in_segment, predicts)]
    names = list(values.columns)
    merged = merge([(names[f], op, t) for f, op, t in path])
    rounded = [round_condition(f, op, t, values[f].to_numpy(), config.rule_significant_digits)
               for f, op, t in merged]
    return _simplify(values, rounded)


def fit_rules(frame: pd.DataFrame, labels: np.ndarray, names: dict[int, str], config: SegmentationConfig,
              features=SEGMENT_FEATURES) -> dict[int, SegmentRule]:
    """segment id -> its rule, coverage and precision, measured on `frame` (the customers fitted on)."""
    labels = np.asarray(labels)
    rules = {}
    for segment_id in sorted(int(s) for s in np.unique(labels)):
        in_segment = labels == segment_id
        conditions = segment_rule(frame, in_segment, config, features)
        coverage, precision = coverage_and_precision(matches(frame, conditions), in_segment)
        rules[segment_id] = SegmentRule(segment_id, names[segment_id], conditions, coverage, precision,
                                        int(in_segment.sum()))
    return rules


def log_rules(rules: dict[int, SegmentRule]) -> None:
    """segment_rules.json and rule_coverage_<id> / rule_precision_<id> metrics on the active run."""
    import mlflow

    mlflow.log_dict([r.record() for r in rules.values()], "segment_rules.json")
    mlflow.log_metrics({f"rule_{what}_{i}": getattr(r, what) for i, r in rules.items()
                        for what in ("coverage", "precision")})


def rule_column(rules: dict[int, SegmentRule] | None, labels: np.ndarray) -> list[str]:
    """Each row's segment rule; "" for a model registered before segments had rules."""
    texts = {i: r.text for i, r in (rules or {}).items()}
    return [texts.get(int(x), "") for x in labels]
