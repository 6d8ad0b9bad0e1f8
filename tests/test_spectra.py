"""Fourier energy by maximum spatial frequency: Parseval, known sinusoids, shell sizes."""
import numpy as np
import pytest

from paperlib.spectra import (centred_spectrum, energy_by_frequency, low_frequency_fraction,
                              max_frequency_grid, normalised_energy, spectral_centroid)


def test_shell_sizes_for_84x84():
    grid = max_frequency_grid(84, 84)
    sizes = np.bincount(grid.reshape(-1))
    assert len(sizes) == 43
    assert sizes[0] == 1 and sizes[42] == 167
    assert all(sizes[f] == 8 * f for f in range(1, 42))
    assert grid[42, 42] == 0  # zero frequency in the centre


def test_parseval():
    rng = np.random.default_rng(0)
    frames = rng.normal(size=(5, 2, 84, 84))
    energy = energy_by_frequency(frames)
    np.testing.assert_allclose(energy.sum(axis=-1), (frames**2).sum(axis=(-2, -1)), rtol=1e-10)


@pytest.mark.parametrize("k_y,k_x", [(0, 5), (7, 3), (-12, 20), (30, 30)])
def test_a_pure_sinusoid_lands_in_its_shell(k_y, k_x):
    y, x = np.mgrid[0:84, 0:84]
    frame = np.cos(2 * np.pi * (k_y * y + k_x * x) / 84)
    energy = energy_by_frequency(frame)
    expected = max(abs(k_y), abs(k_x))
    assert energy.argmax() == expected
    assert energy[expected] == pytest.approx(energy.sum(), rel=1e-10)


def test_constant_frame_is_all_zero_frequency_and_spectrum_is_centred():
    frame = np.full((84, 84), 0.5)
    assert np.abs(centred_spectrum(frame))[42, 42] == pytest.approx(0.5 * 84)
    normalised = normalised_energy(frame)
    assert normalised[0] == pytest.approx(1.0)
    assert spectral_centroid(normalised) == pytest.approx(0.0)
    assert low_frequency_fraction(normalised, 0) == pytest.approx(1.0)


def test_zero_perturbation_is_rejected():
    with pytest.raises(ValueError, match="zero energy"):
        normalised_energy(np.zeros((84, 84)))
