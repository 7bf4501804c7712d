"""Model families, one module each. Importing this package is cheap (the DAG factory reads it at parse).

Each entry: (family name, module under ml.families, mart table). Order matters for scoring: later
families may read earlier marts (recommendation fallbacks use segments; audiences use them all).
"""
FAMILY_MODULES: tuple[tuple[str, str, str], ...] = (
    ("segmentation", "segmentation", "marts.user_segments"),
    ("propensity", "propensity", "marts.user_propensity"),
    ("recommender", "recommender", "marts.user_recommendations"),
    ("customer_value", "customer_value", "marts.user_value"),
    ("sales_forecast", "sales_forecast", "marts.product_sales_forecast"),
)


def load_family(name: str):
    """Import a family module and return its FAMILY (heavy imports happen here, not at parse time)."""
    import importlib

    for family_name, module, _ in FAMILY_MODULES:
        if family_name == name:
            return importlib.import_module(f"ml.families.{module}").FAMILY
    raise KeyError(f"unknown model family {name!r}; known: {[f for f, _, _ in FAMILY_MODULES]}")
