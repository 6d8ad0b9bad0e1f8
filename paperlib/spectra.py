"""Fourier spectra of perturbations (core paper, section 4, Figures 1-2).

Each perturbation frame d (H x W) is transformed with the orthonormal 2-D DFT and centred
(zero frequency in the middle). Frequencies are integers k in [-H/2, H/2) x [-W/2, W/2); the
*maximum spatial frequency* of basis function k is f = max(|k_y|, |k_x|), and

    E(f) = sum over k with max(|k_y|, |k_x|) = f of |F(k)|^2,   f = 0 .. 42 for 84 x 84,

so that sum_f E(f) = ||d||_2^2 (Parseval). Shells hold 1, 8f and, at f = 42, 167 basis functions.
"""
from __future__ import annotations

import numpy as np


def centred_spectrum(frames: np.ndarray) -> np.ndarray:
    """Orthonormal 2-D DFT of every frame (..., H, W), zero frequency moved to the centre."""
    return np.fft.fftshift(np.fft.fft2(frames, norm="ortho"), axes=(-2, -1))


def max_frequency_grid(height: int, width: int) -> np.ndarray:
    """f = max(|k_y|, |k_x|) for every entry of a centred (H, W) spectrum."""
    k_y = np.fft.fftshift(np.fft.fftfreq(height, 1 / height)).astype(int)
    k_x = np.fft.fftshift(np.fft.fftfreq(width, 1 / width)).astype(int)
    return np.maximum(np.abs(k_y)[:, None], np.abs(k_x)[None, :])


def energy_by_frequency(frames: np.ndarray) -> np.ndarray:
    """E(f) of every frame: (..., H, W) -> (..., F) with F = max(H, W) // 2 + 1 shells."""
    height, width = frames.shape[-2:]
    grid = max_frequency_grid(height, width).reshape(-1)
    power = (np.abs(centred_spectrum(frames)) ** 2).reshape(*frames.shape[:-2], -1)
    shells = grid.max() + 1
    out = np.zeros((*frames.shape[:-2], shells))
    for f in range(shells):
        out[..., f] = power[..., grid == f].sum(axis=-1)
    return out


def normalised_energy(frames: np.ndarray) -> np.ndarray:
    """E(f) / sum_f E(f) per frame; frames with zero energy are rejected."""
    energy = energy_by_frequency(frames)
    total = energy.sum(axis=-1, keepdims=True)
    if (total <= 0).any():
        raise ValueError("a perturbation with zero energy has no spectrum; drop failed or empty perturbations first")
    return energy / total


def spectral_centroid(normalised: np.ndarray) -> np.ndarray:
    """Mean maximum spatial frequency sum_f f E(f) of normalised energies (..., F)."""
    return normalised @ np.arange(normalised.shape[-1])


def low_frequency_fraction(normalised: np.ndarray, cutoff: int) -> np.ndarray:
    """Share of the energy at maximum spatial frequency f <= cutoff."""
    return normalised[..., : cutoff + 1].sum(axis=-1)
