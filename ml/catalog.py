"""Every warehouse table and Airflow Asset URI, named once.

DAG files, families, audiences and reports import their names from here, so a table is renamed in
one place. Importing this module is free (the DAG processor reads it on every parse).
"""
from __future__ import annotations

# raw: the published export, replaced as a whole by each successful ingest.
RAW_ORDER_LINES = "raw.order_lines"
RAW_PRODUCTS = "raw.products"
RAW_EVENTS = "raw.events"
RAW_REVIEWS = "raw.reviews"

# features: point-in-time inputs, one partition per as_of_date.
USER_FEATURES = "features.user_features"
PROPENSITY_STATIC = "features.propensity_static"
PROPENSITY_WEEKLY = "features.propensity_weekly"
USER_ITEM_INTERACTIONS = "features.user_item_interactions"
CUSTOMER_VALUE_FEATURES = "features.customer_value"
PRODUCT_WEEKLY_SALES = "features.product_weekly_sales"

# marts: what analysts and marketing tools read, one partition per as_of_date, lineage on every row.
USER_SEGMENTS = "marts.user_segments"
USER_PROPENSITY = "marts.user_propensity"
USER_RECOMMENDATIONS = "marts.user_recommendations"
USER_VALUE = "marts.user_value"
PRODUCT_SALES_FORECAST = "marts.product_sales_forecast"
MARKETING_AUDIENCES = "marts.marketing_audiences"
PRODUCT_ASSOCIATIONS = "marts.product_associations"
MODEL_OUTCOMES = "marts.model_outcomes"
AUDIENCE_UPLIFT = "marts.audience_uplift"

# What each mart holds besides its lineage, in order (the README's mart table lists the same; a test checks).
MART_COLUMNS: dict[str, tuple[str, ...]] = {
    USER_SEGMENTS: ("customer_id", "segment_id", "segment_name", "segment_rule"),
    USER_PROPENSITY: ("customer_id", "p_purchase_30d", "churn_risk", "propensity_decile"),
    USER_RECOMMENDATIONS: ("customer_id", "rank", "product_id", "score", "source", "reason"),
    USER_VALUE: ("customer_id", "expected_orders_90d", "p_alive", "predicted_clv_365d", "value_tier",
                 "historical_value", "expected_next_order_date", "p_order_30d", "p_order_60d", "p_order_90d",
                 "predicted_clv_365d_low", "predicted_clv_365d_high"),
    PRODUCT_SALES_FORECAST: ("product_id", "week_start", "horizon", "predicted_units", "lower_80", "upper_80",
                             "forecast_basis"),
    MARKETING_AUDIENCES: ("customer_id", "audience", "action", "reason", "priority", "offer_product_ids",
                          "is_control"),
    PRODUCT_ASSOCIATIONS: ("antecedent_product_id", "consequent_product_id", "support", "confidence", "lift"),
    MODEL_OUTCOMES: ("family", "metric", "value", "best_baseline", "baseline_value", "ratio", "higher_is_better",
                     "n", "below_floor", "note"),
    AUDIENCE_UPLIFT: ("audience", "action", "window_days", "treated", "control", "treated_conversion",
                      "control_conversion", "conversion_uplift", "conversion_uplift_low", "conversion_uplift_high",
                      "treated_revenue", "control_revenue", "revenue_uplift", "revenue_uplift_low",
                      "revenue_uplift_high", "expected_effect", "detectable_effect", "powered", "note"),
}
# Every model-scored row says which registered version and MLflow run wrote it; audiences carry the
# Airflow run that built them instead.
LINEAGE_COLUMNS = ("as_of_date", "model_name", "model_version", "run_id", "model_kind", "scored_at")
AUDIENCE_LINEAGE_COLUMNS = ("run_id", "as_of_date")
# Association rules are mined, not scored: their rows carry the MLflow run of the mining.
ASSOCIATION_LINEAGE_COLUMNS = ("as_of_date", "run_id")

# ops: the platform's own records.
INGEST_RUNS = "ops.ingest_runs"
VALIDATION_RESULTS = "ops.validation_results"
MODEL_PROMOTIONS = "ops.model_promotions"
DRIFT_REPORTS = "ops.drift_reports"


def table_asset_uri(table: str) -> str:
    """The Asset URI of a warehouse table (`marts.user_value` -> `valueflow://warehouse/marts/user_value`)."""
    schema, name = table.split(".")
    return f"valueflow://warehouse/{schema}/{name}"


def model_asset_uri(family: str) -> str:
    """The Asset a family's promotion task updates: its champion decision for an as-of date."""
    return f"valueflow://mlflow/models/{family}"


def drift_asset_uri(family: str) -> str:
    """The Asset a family's drift check updates when its inputs drifted enough to retrain."""
    return f"valueflow://drift/{family}"
