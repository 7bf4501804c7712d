"""Feature cutoffs (the feature SQL itself is tested in tests/warehouse/customer_value)."""
import datetime as dt

import pytest

from ml.families.customer_value.features import build_cutoffs


def test_cutoffs_are_one_horizon_apart_and_end_at_as_of():
    assert build_cutoffs(dt.date(2024, 1, 1), 90, 2) == [
        dt.date(2023, 4, 6), dt.date(2023, 7, 5), dt.date(2023, 10, 3), dt.date(2024, 1, 1)]
    with pytest.raises(ValueError):
        build_cutoffs(dt.date(2024, 1, 1), 0, 2)
