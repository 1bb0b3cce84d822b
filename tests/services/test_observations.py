"""The rating an observation gets from an event's mean score (pure)."""

from __future__ import annotations

from fractions import Fraction

import pytest

from server.models import OBSERVATION_RATINGS
from server.services.observations import rating_for


@pytest.mark.parametrize(
    ("mean", "rating"),
    [
        (Fraction(100), "好"),
        (Fraction(90), "好"),
        (Fraction(179, 2), "较好"),  # 89.5 is not rounded up into 好
        (Fraction(80), "较好"),
        (Fraction(239, 3), "一般"),  # 79.67
        (Fraction(60), "一般"),
        (Fraction(119, 2), "差"),
        (Fraction(0), "差"),
    ],
)
def test_rating_bands_compare_the_exact_mean(mean, rating):
    """≥90 好, ≥80 较好, ≥60 一般, else 差, on the exact mean: a band is never reached by rounding."""
    assert rating_for(mean) == rating
    assert rating in OBSERVATION_RATINGS
