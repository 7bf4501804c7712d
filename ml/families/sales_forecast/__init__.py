"""Weekly product demand forecasting: the pure ML core of the `sales_forecast` family.

Modules read like the pipeline: `calendar` (weeks, holidays), `panel` (the SQL weekly aggregation and
the dense product x week matrices), `features` (lags and rolling means at a forecast origin),
`models` (LightGBM, linear baseline, naive floors), `intervals`, `metrics`, `backtest`, `fallback`
and `plots`. Nothing here touches the warehouse, MLflow or Airflow.
"""
from ml.families.sales_forecast.family import FAMILY

__all__ = ["FAMILY"]
