"""Milliseconds per batch for five exact ways to propagate a change through a stride-1 convolution (the Nature-CNN's
conv3), side by side: a batch of changes of conv2's activations on 3x3 windows mapped to conv3's 5x5 output windows,
the work :func:`paperlib.ablation._conv_delta` does for every batch of pixels.

  scatter        every changed cell's product with all kernel taps, placed by index_add (what paperlib uses;
                 cells unchanged in every channel are skipped)
  transposed     conv_transpose2d of the change
  padded         conv2d of the change zero-padded by 2
  unfold-mm      unfold of the padded change, then one matrix product with the flattened kernel
  window-matrix  one product with the dense (C*3*3, C*5*5) window-to-window matrix

A share --zero-cells of the change's cells (all channels of one position) is zero, as in the Atari agents
(Pong DDQN: 4.7 of conv2's 9 window cells change per ablation on average). All five agree to float32 rounding
(printed). Timed --repeats times, interleaved (benchmarks/timing.py).

Usage: python -m benchmarks.conv3_forms [--pixels 512] [--zero-cells 0.5] [--repeats 5] [--calls 20] [--threads 1]
"""
from __future__ import annotations

import argparse

import torch
from torch import nn

from benchmarks.timing import describe, machine, time_interleaved
from paperlib.ablation import _stride1_delta, _WindowMaps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pixels", type=int, default=512, help="ablations per batch (default: 512)")
    parser.add_argument("--zero-cells", type=float, default=0.5,
                        help="share of window cells whose change is zero in every channel (default: 0.5)")
    parser.add_argument("--repeats", type=int, default=5, help="timed runs of each form, interleaved (default: 5)")
    parser.add_argument("--calls", type=int, default=20, help="calls per timed run (default: 20)")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    conv = nn.Conv2d(64, 64, 3)
    change = torch.randn(args.pixels, 64, 3, 3) * (torch.rand(args.pixels, 1, 3, 3) >= args.zero_cells)
    channels_last = change.permute(0, 2, 3, 1).contiguous()
    shift = torch.full((args.pixels,), 2)  # the 3x3 input window sits 2 cells into the 5x5 output window
    flipped = conv.weight.detach().transpose(0, 1).flip(2, 3)
    kernel = conv.weight.detach().reshape(64, -1).T.contiguous()
    # the matrix paperlib keeps for strided convs, rows and columns channels first here
    window_matrix = _WindowMaps.of(conv).get(2, 2, (3, 3), (5, 5)).detach().view(3, 3, 64, 5, 5, 64)
    window_matrix = window_matrix.permute(2, 0, 1, 5, 3, 4).reshape(576, 1600)
    pad = lambda: nn.functional.pad(change, (2, 2, 2, 2))  # noqa: E731
    forms = {
        "scatter": lambda: _stride1_delta(conv, channels_last, shift, shift, 5, 5).permute(0, 3, 1, 2),
        "transposed": lambda: nn.functional.conv_transpose2d(change, flipped),
        "padded": lambda: nn.functional.conv2d(pad(), conv.weight),
        "unfold-mm": lambda: (nn.functional.unfold(pad(), 3).transpose(1, 2) @ kernel).transpose(1, 2),
        "window-matrix": lambda: change.reshape(args.pixels, -1) @ window_matrix,
    }
    with torch.no_grad():
        seconds, results = time_interleaved({name: lambda f=form: [f() for _ in range(args.calls)][-1]
                                             for name, form in forms.items()}, args.repeats)
    reference = results["transposed"].reshape(args.pixels, -1)
    print(f"{args.pixels} pixels per batch, {args.zero_cells:.0%} of cells unchanged, "
          f"{args.repeats} repeats of {args.calls} calls; {machine()}")
    print(f"{'form':14s} {'ms per batch (range)':>24s} {'max |diff|':>11s}")
    for name in forms:
        diff = float((results[name].reshape(args.pixels, -1) - reference).abs().max())
        print(f"{name:14s} {describe([s * 1000 for s in seconds[name]], args.calls):>24s} {diff:11.1e}")


if __name__ == "__main__":
    main()
