"""Milliseconds per batch for four exact ways to propagate a change through a stride-1 convolution (the Nature-CNN's
conv3), side by side: a batch of changes of conv2's activations on 3x3 windows mapped to conv3's 5x5 output windows,
the work :func:`paperlib.ablation._conv_delta` does for every batch of pixels.

  transposed     conv_transpose2d of the change (what paperlib uses)
  padded         conv2d of the change zero-padded by 2
  unfold-mm      unfold of the padded change, then one matrix product with the flattened kernel
  window-matrix  one product with the dense (C*3*3, C*5*5) window-to-window matrix

All four agree to float32 rounding (printed). Timed --repeats times, interleaved (benchmarks/timing.py).

Usage: python -m benchmarks.conv3_forms [--pixels 512] [--repeats 5] [--calls 20] [--threads 1]
"""
from __future__ import annotations

import argparse

import torch
from torch import nn

from benchmarks.timing import describe, time_interleaved
from paperlib.ablation import _WindowMaps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pixels", type=int, default=512, help="ablations per batch (default: 512)")
    parser.add_argument("--repeats", type=int, default=5, help="timed runs of each form, interleaved (default: 5)")
    parser.add_argument("--calls", type=int, default=20, help="calls per timed run (default: 20)")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    conv = nn.Conv2d(64, 64, 3)
    change = torch.randn(args.pixels, 64, 3, 3)
    flipped = conv.weight.detach().transpose(0, 1).flip(2, 3)
    kernel = conv.weight.detach().reshape(64, -1).T.contiguous()
    window_matrix = _WindowMaps.of(conv).get(2, 2, (3, 3), (5, 5)).detach()  # the matrix paperlib keeps for strided convs
    pad = lambda: nn.functional.pad(change, (2, 2, 2, 2))  # noqa: E731
    forms = {
        "transposed": lambda: nn.functional.conv_transpose2d(change, flipped),
        "padded": lambda: nn.functional.conv2d(pad(), conv.weight),
        "unfold-mm": lambda: (nn.functional.unfold(pad(), 3).transpose(1, 2) @ kernel).transpose(1, 2),
        "window-matrix": lambda: change.reshape(args.pixels, -1) @ window_matrix,
    }
    with torch.no_grad():
        seconds, results = time_interleaved({name: lambda f=form: [f() for _ in range(args.calls)][-1]
                                             for name, form in forms.items()}, args.repeats)
    reference = results["transposed"].reshape(args.pixels, -1)
    print(f"{args.pixels} pixels per batch, {torch.get_num_threads()} thread(s), torch {torch.__version__}, "
          f"{args.repeats} repeats of {args.calls} calls")
    print(f"{'form':14s} {'ms per batch (range)':>24s} {'max |diff|':>11s}")
    for name in forms:
        diff = float((results[name].reshape(args.pixels, -1) - reference).abs().max())
        print(f"{name:14s} {describe([s * 1000 for s in seconds[name]], args.calls):>24s} {diff:11.1e}")


if __name__ == "__main__":
    main()
