"""Model families, one package each (`ml/families/<name>/`, see docs/architecture.md).

Importing this package is cheap (the DAG factory reads it at parse). Each entry: (family name, mart
table). Order matters for scoring: later families may read earlier marts (recommendation fallbacks
use segments; audiences use them all).
"""
from ml import catalog

FAMILY_MARTS: tuple[tuple[str, str], ...] = (
    ("segmentation", catalog.USER_SEGMENTS),
    ("propensity", catalog.USER_PROPENSITY),
    ("recommender", catalog.USER_RECOMMENDATIONS),
    ("customer_value", catalog.USER_VALUE),
    ("sales_forecast", catalog.PRODUCT_SALES_FORECAST),
)
FAMILY_NAMES: tuple[str, ...] = tuple(name for name, _ in FAMILY_MARTS)


def load_family(name: str):
    """Import a family package and return its FAMILY (heavy imports happen here, not at parse time)."""
    import importlib

    if name not in FAMILY_NAMES:
        raise KeyError(f"unknown model family {name!r}; known: {list(FAMILY_NAMES)}")
    return importlib.import_module(f"ml.families.{name}").FAMILY
