"""Actual vs forecast for the top products over the backtest windows."""
from __future__ import annotations

import pandas as pd

from ml.families.sales_forecast.panel import PanelMatrix


def plot_actual_vs_forecast(m: PanelMatrix, predictions: pd.DataFrame, top_n: int = 6, context_weeks: int = 16):
    """Figure: one panel per top-selling product (by backtest volume), actuals with forecasts and 80% band."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    if predictions.empty:
        raise ValueError("no backtest predictions to plot")
    top = predictions.groupby("product_id")["target"].sum().nlargest(top_n).index.tolist()
    first_week = predictions["origin_week"].min() - pd.Timedelta(weeks=context_weeks)
    fig, axes = plt.subplots(len(top), 1, figsize=(9, 2.2 * len(top)), sharex=True, squeeze=False)
    index = {p: i for i, p in enumerate(m.product_ids)}
    for ax, product in zip(axes[:, 0], top):
        actual = pd.Series(m.units[index[product]], index=m.weeks)
        actual = actual[actual.index >= first_week]
        ax.plot(actual.index, actual.values, color="black", lw=1.2, label="actual")
        rows = predictions[predictions["product_id"] == product].sort_values("target_week")
        for origin, g in rows.groupby("origin_week"):
            first = origin == rows["origin_week"].min()  # label each line once
            ax.plot(g["target_week"], g["pred_selected"], color="tab:blue", marker="o", ms=3,
                    label="chosen per class (holdout)" if first else None)
            ax.plot(g["target_week"], g["pred_seasonal_naive"], color="tab:orange", ls="--",
                    label="seasonal naive" if first else None)
            if "lower_80" in g and g["lower_80"].notna().all():
                ax.fill_between(g["target_week"], g["lower_80"], g["upper_80"], color="tab:blue", alpha=0.15)
            ax.axvline(origin, color="grey", lw=0.5, ls=":")
        ax.set_title(f"product {product}", fontsize=9)
        ax.set_ylabel("units / week")
    axes[0, 0].legend(loc="upper left", fontsize=7)
    fig.tight_layout()
    return fig


def save_actual_vs_forecast(m: PanelMatrix, predictions: pd.DataFrame, path, top_n: int = 6) -> None:
    """Write the plot to `path` and free the figure (pyplot keeps figures alive otherwise)."""
    import matplotlib.pyplot as plt

    figure = plot_actual_vs_forecast(m, predictions, top_n=top_n)
    figure.savefig(path, dpi=100)
    plt.close(figure)
