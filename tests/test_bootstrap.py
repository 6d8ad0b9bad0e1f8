import numpy as np
import pytest
from scipy import stats

from paperlib.bootstrap import bootstrap_interval


def test_interval_covers_the_mean_and_shrinks_with_the_sample():
    rng = np.random.default_rng(1)
    values = rng.normal(loc=3.0, size=(400, 2))
    low, high = bootstrap_interval(values, resamples=500)
    assert (low < values.mean(axis=0)).all() and (values.mean(axis=0) < high).all()
    assert (high - low < 0.5).all()


def test_percentile_interval_matches_scipy_on_a_skewed_statistic():
    values = np.random.default_rng(1).exponential(size=30)
    low, high = bootstrap_interval(values, lambda sample: sample.var(axis=0), resamples=20000)
    reference = stats.bootstrap((values,), lambda sample, axis=-1: sample.var(axis=axis), n_resamples=20000,
                                method="percentile", random_state=0).confidence_interval
    assert low == pytest.approx(reference.low, rel=0.05) and high == pytest.approx(reference.high, rel=0.05)


def test_bad_input_is_rejected_and_undefined_statistics_give_nan():
    with pytest.raises(ValueError, match="empty sample"):
        bootstrap_interval(np.zeros((0, 3)))
    low, high = bootstrap_interval(np.ones((5, 2)), lambda sample: np.full(2, np.nan), resamples=50)
    assert np.isnan(low).all() and np.isnan(high).all()
