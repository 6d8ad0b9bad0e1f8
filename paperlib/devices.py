"""The torch device a computation runs on, checked before any work starts."""
from __future__ import annotations

import torch

SUPPORTED = ("cpu", "cuda")
"""Device types the compendium runs on (its tests run on CPU; CUDA results may differ in the last float bits)."""


def resolve_device(name: str | torch.device | None = None, check_available: bool = True) -> torch.device:
    """``name`` as a torch device (None: CUDA where available, else CPU). Raises ValueError, naming the fix, for a
    name torch does not know, a type other than :data:`SUPPORTED` and (``check_available``) a CUDA device this
    machine does not have."""
    if name is None:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except (RuntimeError, TypeError) as err:
        raise ValueError(f"unknown torch device {name!r}; use 'cpu' or 'cuda' (or 'cuda:N')") from err
    if device.type not in SUPPORTED:
        raise ValueError(f"device {name!r} is not supported; use 'cpu' or 'cuda' (or 'cuda:N')")
    if check_available and device.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(f"device {name!r} asked for, but CUDA is not available to torch {torch.__version__} on "
                             "this machine; use 'cpu'")
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise ValueError(f"device {name!r} asked for, but this machine has {torch.cuda.device_count()} CUDA "
                             f"device(s): use cuda:0 to cuda:{torch.cuda.device_count() - 1}")
    return device
