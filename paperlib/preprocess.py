"""SA-DQN observation crop (the preprocessing of the agents analysed by the core paper).

A grayscale 210x160 Atari frame is padded with 4 zero columns on each side (210x168), the
168 rows starting at row ``21 + shift`` are kept (168x168) and the square is resized to
84x84 with area interpolation. Frames stay uint8; :func:`to_network_input` scales to [0, 1].
"""
from __future__ import annotations

import cv2
import numpy as np
import torch

RAW_SHAPE = (210, 160)
"""Height and width of a raw ALE frame."""
OBS_SIZE = 84
"""Side of the square network input."""
_PAD = 4
_CROP = 168
_TOP = 21


def crop_frame(frame: np.ndarray, shift: int) -> np.ndarray:
    """Crop and resize one grayscale 210x160 uint8 frame to 84x84 uint8."""
    if frame.shape != RAW_SHAPE:
        raise ValueError(f"expected a grayscale frame of shape {RAW_SHAPE}, got {frame.shape}")
    top = _TOP + shift
    if not 0 <= top <= RAW_SHAPE[0] - _CROP:
        raise ValueError(f"crop shift {shift} leaves the frame; it must lie in [-21, {RAW_SHAPE[0] - _CROP - _TOP}]")
    padded = np.pad(frame[top : top + _CROP], ((0, 0), (_PAD, _PAD)))
    return cv2.resize(padded, (OBS_SIZE, OBS_SIZE), interpolation=cv2.INTER_AREA)


def crop_frames(frames: np.ndarray, shift: int) -> np.ndarray:
    """Apply :func:`crop_frame` to every frame of an array of shape (..., 210, 160)."""
    flat = frames.reshape(-1, *RAW_SHAPE)
    out = np.stack([crop_frame(f, shift) for f in flat]) if len(flat) else np.empty((0, OBS_SIZE, OBS_SIZE), np.uint8)
    return out.reshape(*frames.shape[:-2], OBS_SIZE, OBS_SIZE)


def to_network_input(obs: np.ndarray | torch.Tensor, device: torch.device | str = "cpu") -> torch.Tensor:
    """uint8 observations (B, C, 84, 84) -> float32 tensor in [0, 1] on ``device``."""
    tensor = torch.as_tensor(obs, device=device)
    return tensor.float().div_(255.0)
