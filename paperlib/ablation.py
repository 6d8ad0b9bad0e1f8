"""Q-values of every single-pixel ablation Z_ij(s) of a state (the work behind KMAP and HMAP).

Z_ij sets pixel (i, j) to zero in every stacked frame (core paper, Algorithms 1-2). Three ways to
compute Q(Z_ij(s), .) for all H x W pixels, with the same values up to float32 rounding:

- :func:`ablated_q_literal`: the paper's loop, one forward pass per pixel (the reference);
- :func:`ablated_q_dense`: the ablated states in batches through any Q-network ``nn.Module``;
- :func:`ablated_q_incremental`: for conv-stack networks (Nature-CNN, dueling or not). Zeroing one
  pixel changes only a small window of every convolution's output (2x2, 3x3 and 5x5 for the
  Nature-CNN), so only the change is propagated, through each ReLU exactly:
  into the first convolution as the pixel's values times the kernel taps that meet it; through a later
  strided convolution as one matrix product per offset of its input window (the pixels are sorted
  so that equal offsets are neighbours); through a stride-1 convolution as a scatter of every
  changed cell's contribution through every kernel tap (one matrix product; cells unchanged in every
  channel left out); into the first fully connected layers as a sparse update of their
  pre-activations, over only the features that some ablation of the batch changes (a unit off before
  and after contributes nothing; in Pong most of the last convolution's units are off), and where the units off in
  the clean state that some ablation turns on are at least half of those (in the Atari agents; each is turned on by
  few ablations), their changes through one sparse product (``embedding_bag``) and only the rest through a dense one.
  The rest of the head runs batched. Pixels that are already zero in every frame are not
  propagated at all: there Z_ij(s) = s (more than half of a RoadRunner frame is black). The
  weight matrices this needs are kept between calls while the weights are unchanged. Changes are
  kept channels last, (P, h, w, C). On CPU the batches of pixels run on as many Python threads as torch has
  intra-op threads, every operator single-threaded: a batch's operators are too small to keep two cores busy,
  and two batches at once were 1.02-1.24x faster than one batch on two threads, side by side on five networks.
  The batches are handed out largest first: of a Pong state's 17 batches, taken in their natural order the busier of
  two threads would get 3,488 of 6,720 pixels, largest first 3,368 (an even split: 3,360). Side by side on two
  threads (three states, 7-11 interleaved repeats, three runs on the Pong agent and a random network, one or two on
  the others) that was 1.01-1.14x as fast on the first two and 0.95-1.05x, within the noise, on the Freeway DDQN,
  BankHeist DDQN and RoadRunner SA-DDQN agents; the values are the same bit for bit.
  On CPU every result is reproducible bit for bit, whatever the thread count; on CUDA, index_add
  accumulates in an unspecified order, so repeated runs can differ in the last bits (not in the exactness).
"""
from __future__ import annotations

import functools
import threading
import weakref
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from typing import Callable, Sequence

import torch
from torch import nn

from paperlib.networks import DuelingNatureCNN, NatureCNN


def _check_state(state: torch.Tensor) -> None:
    if state.dim() != 3:
        raise ValueError(f"expected one state of shape (C, H, W), got shape {tuple(state.shape)}")


def ablated_q_literal(network: nn.Module, state: torch.Tensor, pixels: Sequence[int] | None = None) -> torch.Tensor:
    """(H*W, A) Q-values, one forward pass per pixel, row-major pixel order (Algorithm 1 as written); with
    ``pixels`` (row-major indices i * W + j), only those rows, in that order (a spot check of a fast path)."""
    _check_state(state)
    _, height, width = state.shape
    rows = []
    with torch.no_grad():
        for pixel in range(height * width) if pixels is None else pixels:
            ablated = state.clone()
            ablated[:, pixel // width, pixel % width] = 0.0
            rows.append(network(ablated.unsqueeze(0))[0])
    return torch.stack(rows)


def ablated_q_dense(network: nn.Module, state: torch.Tensor, batch_size: int = 256) -> torch.Tensor:
    """(H*W, A) Q-values, the ablated states in batches of ``batch_size`` through ``network``."""
    _check_state(state)
    channels, height, width = state.shape
    pixels = height * width
    out = []
    with torch.no_grad():
        for start in range(0, pixels, batch_size):
            index = torch.arange(start, min(start + batch_size, pixels), device=state.device)
            batch = state.expand(len(index), channels, height, width).clone()
            batch[index - start, :, index // width, index % width] = 0.0
            out.append(network(batch))
    return torch.cat(out)


@dataclass
class ConvStack:
    """A Q-network seen as ReLU convolutions, then first linear layers on the flattened features, then a head."""

    convs: list[nn.Conv2d]
    """Convolutions, each followed by a ReLU (no padding, no dilation, no groups)."""
    linears: list[nn.Linear]
    """Linear layers applied to the flattened output of the last convolution."""
    head: Callable[[list[torch.Tensor]], torch.Tensor]
    """Maps the pre-activations of ``linears`` to Q-values."""
    policy_linears: tuple[int, ...] | None = None
    """Indices of the ``linears`` that determine Q up to a per-state constant (the greedy action and the
    softmax policy), e.g. only the advantage stream of a dueling network; None: all of them."""
    policy_head: Callable[[list[torch.Tensor]], torch.Tensor] | None = None
    """Maps the pre-activations of ``policy_linears`` to Q-values up to a per-state constant."""


def conv_stack(network: nn.Module) -> ConvStack | None:
    """The :class:`ConvStack` view of a supported network (one with a ``conv_stack()`` method or a Nature-CNN)."""
    if hasattr(network, "conv_stack"):
        return network.conv_stack()
    convs = [m for m in getattr(network, "features", []) if isinstance(m, nn.Conv2d)]
    if isinstance(network, DuelingNatureCNN):
        def head(pre: list[torch.Tensor]) -> torch.Tensor:
            value = network.value[2](torch.relu(pre[0]))
            advantage = network.advantage[2](torch.relu(pre[1]))
            return value + advantage - advantage.mean(dim=1, keepdim=True)

        # Q = V + A - mean(A): up to a per-state constant, Q is the advantage stream alone
        return ConvStack(convs, [network.value[0], network.advantage[0]], head, (1,),
                         lambda pre: network.advantage[2](torch.relu(pre[0])))
    if isinstance(network, NatureCNN):
        return ConvStack(convs, [network.q[0]], lambda pre: network.q[2](torch.relu(pre[0])))
    return None


def _output_window(start: torch.Tensor, size: int, kernel: int, stride: int, out_len: int) -> tuple[torch.Tensor, int]:
    """First output index (per pixel) and common length of the output window touched by input rows
    [start, start + size) of a convolution; windows are shifted inwards at the borders."""
    lo = torch.clamp(torch.div(start - kernel + stride, stride, rounding_mode="floor"), min=0)  # ceil((s-k+1)/stride)
    hi = torch.clamp(torch.div(start + size - 1, stride, rounding_mode="floor"), max=out_len - 1)
    length = min(int((hi - lo).max()) + 1, out_len)
    return torch.clamp(lo, max=out_len - length), length


class _AllWindows:
    """Every window of one size of a layer's clean pre-activation (C, H, W), stacked once per state as the two
    tensors :func:`_relu_change` needs, min(pre, 0) and -max(pre, 0): (window starts, height, width, C) each,
    channels last like every change this module propagates."""

    def __init__(self, pre: torch.Tensor, height: int, width: int) -> None:
        channels, _, full_width = pre.shape
        self.shape = tuple(pre.shape)
        """Shape (C, H, W) of the pre-activation."""
        self._starts_per_row = full_width - width + 1

        def stacked(tensor: torch.Tensor) -> torch.Tensor:
            unfolded = nn.functional.unfold(tensor.unsqueeze(0), (height, width))[0]  # (C*h*w, every window start)
            return unfolded.T.reshape(-1, channels, height, width).permute(0, 2, 3, 1).contiguous()

        self._negative, self._minus_positive = stacked(pre.clamp(max=0)), stacked(-pre.relu())

    def at(self, rows: torch.Tensor, cols: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """min(pre, 0) and -max(pre, 0) on the windows starting at (rows, cols): (P, height, width, C) each, or
        (1, ...) when the windows are all the same."""
        index = rows * self._starts_per_row + cols
        if bool((index == index[0]).all()):
            return self._negative[int(index[0])].unsqueeze(0), self._minus_positive[int(index[0])].unsqueeze(0)
        return self._negative.index_select(0, index), self._minus_positive.index_select(0, index)


def _relu_change(delta_pre: torch.Tensor, windows: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
    """relu(pre + delta_pre) - relu(pre), in place on ``delta_pre``, as max(delta_pre + min(pre, 0), -max(pre, 0))
    (equal: for pre >= 0 both are max(delta_pre, -pre), for pre < 0 both are relu(pre + delta_pre)); two passes
    instead of three, and exactly zero where the change is zero."""
    negative, minus_positive = windows
    return delta_pre.add_(negative).clamp_(min=minus_positive)


def ablated_q_incremental(network: nn.Module, state: torch.Tensor, batch_size: int = 512,
                          up_to_shift: bool = False, workers: int | None = None) -> torch.Tensor:
    """(H*W, A) Q-values by propagating only the change each ablation makes (see the module docstring).

    ``up_to_shift=True`` returns Q-values up to a per-pixel constant (enough for the greedy action and the
    softmax policy, so for KMAP and HMAP), which skips the value stream of a dueling network.
    ``workers`` batches run at once (default: ``torch.get_num_threads()`` on CPU, 1 elsewhere). On CPU every
    operator runs on one intra-op thread, the clean forward pass included (torch's thread count is set to 1
    meanwhile and restored after), so the values are the same bit for bit whatever ``workers`` and torch's
    thread count: on an AVX-512 machine a clean pass on three threads changed the last bits of 1052 of 7056 rows.
    """
    _check_state(state)
    if workers is None:
        workers = torch.get_num_threads() if state.device.type == "cpu" else 1
    if workers < 1:
        raise ValueError(f"workers must be at least 1, got {workers}")
    stack = conv_stack(network)
    if stack is None:
        raise TypeError(f"{type(network).__name__} is not a conv-stack network; use ablated_q_dense")
    for conv in stack.convs:
        if conv.padding not in ((0, 0), "valid") or conv.dilation != (1, 1) or conv.groups != 1:
            raise TypeError("the incremental path needs convolutions without padding, dilation or groups")
        if any(k < s for k, s in zip(conv.kernel_size, conv.stride)):
            raise TypeError("the incremental path needs kernels at least as large as their strides")
    on_one_thread = _one_intra_op_thread() if state.device.type == "cpu" else nullcontext()
    with torch.no_grad(), on_one_thread:  # the clean pass too: its bits depend on the thread count
        clean_pre, clean_act = [], [state]
        for conv in stack.convs:
            clean_pre.append(conv(clean_act[-1].unsqueeze(0))[0])
            clean_act.append(torch.relu(clean_pre[-1]))
        linears, head = stack.linears, stack.head
        if up_to_shift and stack.policy_linears is not None:
            linears, head = [stack.linears[i] for i in stack.policy_linears], stack.policy_head
        clean_linear = [layer(clean_act[-1].reshape(-1)) for layer in linears]
        clean_q = head([pre.unsqueeze(0) for pre in clean_linear])
        out = clean_q.expand(state.shape[1] * state.shape[2], -1).clone()
        live = state.ne(0).any(dim=0).reshape(-1).nonzero().squeeze(1)  # zeroing a black pixel: Z_ij(s) = s
        if len(live) == 0:
            return out
        windows = _windows(stack.convs, clean_pre, live, state.shape[2])
        order = torch.argsort(_strided_offsets(stack.convs, live, windows, state.shape[2]), stable=True)
        live = live[order]
        windows = [(rows[order], cols[order], len_r, len_c) for rows, cols, len_r, len_c in windows]
        clean_windows = [_AllWindows(pre, len_r, len_c) for pre, (_, _, len_r, len_c) in zip(clean_pre, windows)]

        @torch.no_grad()  # grad mode is per thread
        def propagate(batch: torch.Tensor) -> None:
            batch_windows = [(rows[batch], cols[batch], len_r, len_c) for rows, cols, len_r, len_c in windows]
            out[live[batch]] = head(_ablated_linear(stack.convs, linears, state, clean_windows, clean_linear,
                                                    live[batch], batch_windows))  # disjoint rows per batch

        # largest first (longest-processing-time-first), so that the workers finish at about the same time
        batches = sorted(_batches_sharing_the_last_window(windows[-1], batch_size), key=len, reverse=True)
        if workers == 1 or len(batches) == 1:
            for batch in batches:
                propagate(batch)
        else:
            with ThreadPoolExecutor(min(workers, len(batches))) as pool:
                for _ in pool.map(propagate, batches):  # re-raises a batch's exception
                    pass
    return out


@contextmanager
def _one_intra_op_thread():
    """torch's intra-op thread count set to 1 (it is global, seen by every thread), restored on exit."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def _windows(convs: list[nn.Conv2d], clean_pre, pixels: torch.Tensor,
             width: int) -> list[tuple[torch.Tensor, torch.Tensor, int, int]]:
    """Per convolution, the output window each pixel's ablation changes: (start rows, start cols, common height,
    common width), the starts one per pixel. Computed once for all pixels: the common sizes (and so the
    starts, shifted inwards at the borders) depend on which pixels are included."""
    rows, cols = pixels // width, pixels % width
    size_r = size_c = 1
    windows = []
    for conv, pre in zip(convs, clean_pre):
        (k_r, k_c), (s_r, s_c) = conv.kernel_size, conv.stride
        rows, size_r = _output_window(rows, size_r, k_r, s_r, pre.shape[1])
        cols, size_c = _output_window(cols, size_c, k_c, s_c, pre.shape[2])
        windows.append((rows, cols, size_r, size_c))
    return windows


def _strided_offsets(convs: list[nn.Conv2d], pixels: torch.Tensor, windows, width: int) -> torch.Tensor:
    """One integer per pixel, equal for pixels whose input windows lie at the same offsets in every strided
    convolution after the first: sorted by it, such pixels are neighbours and share one matrix product each."""
    key = torch.zeros_like(pixels)
    rows, cols = pixels // width, pixels % width
    for conv, (out_r, out_c, _, _) in zip(convs, windows):
        s_r, s_c = conv.stride
        if (s_r, s_c) != (1, 1) and conv is not convs[0]:
            offset_r, offset_c = rows - out_r * s_r, cols - out_c * s_c  # both >= 0
            key = (key * (int(offset_r.max()) + 1) + offset_r) * (int(offset_c.max()) + 1) + offset_c
        rows, cols = out_r, out_c
    return key


def _batches_sharing_the_last_window(last_window: tuple[torch.Tensor, torch.Tensor, int, int], batch_size: int):
    """Positions (into the pixels of ``last_window``) in batches of at most ``batch_size`` whose changes reach the
    same window of the last convolution."""
    rows, cols, _, _ = last_window
    _, group_of = torch.unique(rows * (int(cols.max()) + 1) + cols, return_inverse=True)
    for group in range(int(group_of.max()) + 1):
        yield from torch.split((group_of == group).nonzero().squeeze(1), batch_size)


def _first_layer_delta(conv: nn.Conv2d, values: torch.Tensor, offset_r: torch.Tensor, offset_c: torch.Tensor,
                       len_r: int, len_c: int) -> torch.Tensor:
    """Change (P, len_r, len_c, C_out) of the first convolution's pre-activation on the output windows when each
    pixel's ``values`` (P, C) change, the pixel lying at ``offset`` from its window's input position: the pixel
    meets output (u, v) of the window through kernel tap (offset_r - stride * u, offset_c - stride * v), so the
    change is its values times one row of the window map of a single cell at that offset (no convolution)."""
    (k_r, k_c), (s_r, s_c) = conv.kernel_size, conv.stride
    span_r = max(k_r + s_r * (len_r - 1), int(offset_r.max()) + 1)  # every offset a pixel can have
    span_c = max(k_c + s_c * (len_c - 1), int(offset_c.max()) + 1)
    table = _WindowMaps.of(conv).get(0, 0, (span_r, span_c), (len_r, len_c)).view(span_r * span_c, conv.in_channels, -1)
    picked = table.index_select(0, offset_r * span_c + offset_c)  # (P, C, len_r * len_c * C_out)
    return (values.unsqueeze(2) * picked).sum(dim=1).view(len(values), len_r, len_c, conv.out_channels)


def _conv_delta(conv: nn.Conv2d, delta: torch.Tensor, rows, cols, out_r, out_c, len_r: int, len_c: int) -> torch.Tensor:
    """Change (P, len_r, len_c, C_out) of a convolution's pre-activation on the output windows, from the change
    ``delta`` (P, h, w, C_in) of its input on the windows starting at (rows, cols)."""
    if conv.stride == (1, 1):
        return _stride1_delta(conv, delta, rows - out_r, cols - out_c, len_r, len_c)
    (s_r, s_c) = conv.stride
    # strided: the window-to-window map depends only on where the input window lies in the output window's
    # input span; one matrix product per such offset (a convolution would mostly multiply zeros)
    offset_r, offset_c = rows - out_r * s_r, cols - out_c * s_c
    # (pixels sorted by :func:`_strided_offsets` come in runs of equal offsets)
    _, counts = torch.unique_consecutive(offset_r * (int(offset_c.max()) + 1) + offset_c, return_counts=True)
    flat, start, maps = delta.reshape(len(delta), -1), 0, _WindowMaps.of(conv)
    out = delta.new_empty(len(delta), len_r * len_c * conv.out_channels)
    for count in counts.tolist():
        matrix = maps.get(int(offset_r[start]), int(offset_c[start]), tuple(delta.shape[1:3]), (len_r, len_c))
        torch.mm(flat[start:start + count], matrix, out=out[start:start + count])
        start += count
    return out.view(len(delta), len_r, len_c, conv.out_channels)


def _nonzero_along(tensor: torch.Tensor, dim: int) -> torch.Tensor:
    """Indices of the slices along the other dimension of a matrix that hold a nonzero entry (abs().amax() is
    several times faster than ne(0).any() on CPU)."""
    return (tensor.abs().amax(dim=dim) > 0).nonzero().squeeze(1)


def _stride1_delta(conv: nn.Conv2d, delta: torch.Tensor, shift_r: torch.Tensor, shift_c: torch.Tensor,
                   len_r: int, len_c: int) -> torch.Tensor:
    """Change (P, len_r, len_c, C_out) of a stride-1 convolution's pre-activation from the change ``delta``
    (P, h, w, C_in) of its input, whose window lies at ``shift`` from the output window: a transposed
    convolution as a scatter. A single cell's window map (:class:`_WindowMaps`, the cell k - 1 into a k x k
    output window) gives its contribution to output (shift_r + a - k_r + 1 + u, shift_c + b - k_c + 1 + v) for
    every (u, v), so one matrix product gives every cell's contributions, and an index_add places them at targets
    looked up per cell and shift (:func:`_tap_targets`); cells whose change is zero in every channel (about half of them in the Atari agents)
    are left out of the product, and contributions outside the output window (outside the layer) go to a
    discarded row."""
    count, height, width, in_channels = delta.shape
    (k_r, k_c), out_channels = conv.kernel_size, conv.out_channels
    cells = delta.reshape(-1, in_channels)
    changed = _nonzero_along(cells, 1)
    one_cell = _WindowMaps.of(conv).get(k_r - 1, k_c - 1, (1, 1), (k_r, k_c))  # (C_in, k_r * k_c * C_out)
    contributions = cells.index_select(0, changed) @ one_cell
    pixel = torch.div(changed, height * width, rounding_mode="floor")
    cell_r = shift_r[pixel] + torch.div(changed, width, rounding_mode="floor") % height
    cell_c = shift_c[pixel] + changed % width
    span_c = int(shift_c.max()) + width
    discarded = count * len_r * len_c
    targets = _tap_targets(int(shift_r.max()) + height, span_c, (k_r, k_c), (len_r, len_c), delta.device)
    target = targets.index_select(0, cell_r * span_c + cell_c).add_((pixel * (len_r * len_c))[:, None])
    out = delta.new_zeros(discarded + 1, out_channels)
    out.index_add_(0, target.clamp_(max=discarded).reshape(-1), contributions.view(-1, out_channels))
    return out[:discarded].view(count, len_r, len_c, out_channels)


@functools.lru_cache(maxsize=None)
def _tap_targets(span_r: int, span_c: int, kernel: tuple[int, int], out_size: tuple[int, int],
                 device: torch.device) -> torch.Tensor:
    """Where a stride-1 convolution sends an input cell, per kernel tap: (span_r * span_c, k_r * k_c), row
    r * span_c + c for the cell at input position (r, c) counted from the output window's first input position,
    column a * k_c + b (tap (a, b), the column order of the single-cell window map) its position in the output
    window (row-major), (r - k_r + 1 + a) * len_c + (c - k_c + 1 + b), or 2**62 where that lies outside the window
    (the caller clamps it to its discarded row). Built once per shape (kept by ``lru_cache``: it depends on the
    kernel and window sizes only, not on the weights that :class:`_WeightDerived` tracks)."""
    (k_r, k_c), (len_r, len_c) = kernel, out_size
    u = torch.arange(span_r, device=device)[:, None] - k_r + 1 + torch.arange(k_r, device=device)  # (span_r, k_r)
    v = torch.arange(span_c, device=device)[:, None] - k_c + 1 + torch.arange(k_c, device=device)
    inside = ((u >= 0) & (u < len_r))[:, None, :, None] & ((v >= 0) & (v < len_c))[None, :, None, :]
    position = u[:, None, :, None] * len_c + v[None, :, None, :]
    return torch.where(inside, position, 1 << 62).reshape(span_r * span_c, k_r * k_c)


class _WeightDerived:
    """Tensors derived from one layer's weight, built on first use and kept for later calls (states) while the
    weight is unchanged (same storage, no in-place update since)."""

    _kept: "weakref.WeakKeyDictionary[nn.Module, _WeightDerived]"
    # batches of one state run on several threads: one lock guards the registries (held for dictionary work
    # only), and each instance builds under its own re-entrant lock, so a ``_build`` may use ``of`` or ``get``
    _registering = threading.Lock()

    def __init__(self, layer: nn.Module) -> None:
        self._layer = weakref.ref(layer)
        self._stamp = self._stamp_of(layer)
        self._built: dict[tuple, torch.Tensor] = {}
        self._building = threading.RLock()

    @staticmethod
    def _stamp_of(layer: nn.Module) -> tuple:
        return layer.weight.data_ptr(), layer.weight._version, layer.weight.dtype, layer.weight.device

    @classmethod
    def of(cls, layer: nn.Module):
        with cls._registering:
            kept = cls._kept.get(layer)
            if kept is None or kept._stamp != cls._stamp_of(layer):
                kept = cls._kept[layer] = cls(layer)
            return kept

    def get(self, *key) -> torch.Tensor:
        built = self._built.get(key)
        if built is None:
            with self._building:
                built = self._built.get(key)
                if built is None:
                    built = self._built[key] = self._build(self._layer(), *key)
        return built


class _WindowMaps(_WeightDerived):
    """Dense matrices of a convolution from an input window to an output window: entry
    [(a, b, c_in), (u, v, c_out)] = weight[c_out, c_in, d_r + a - stride * u, d_c + b - stride * v] (zero where
    that tap lies outside the kernel), for the input window at offset (d_r, d_c) from the output window's input
    position; key (d_r, d_c, input window size, output window size)."""

    _kept = weakref.WeakKeyDictionary()

    @staticmethod
    def _build(conv: nn.Conv2d, d_r: int, d_c: int, in_size, out_size) -> torch.Tensor:
        weight = conv.weight
        (k_r, k_c), (s_r, s_c) = conv.kernel_size, conv.stride
        device = weight.device

        def taps(offset: int, n_in: int, n_out: int, stride: int, kernel: int) -> tuple[torch.Tensor, torch.Tensor]:
            tap = offset + torch.arange(n_in, device=device)[:, None] - stride * torch.arange(n_out, device=device)
            return tap.clamp(0, kernel - 1), (tap >= 0) & (tap < kernel)

        tap_r, valid_r = taps(d_r, in_size[0], out_size[0], s_r, k_r)
        tap_c, valid_c = taps(d_c, in_size[1], out_size[1], s_c, k_c)
        # (c_out, c_in, a, u, b, v)
        picked = weight[:, :, tap_r[:, :, None, None], tap_c[None, None, :, :]]
        picked = picked * (valid_r[:, :, None, None] & valid_c[None, None, :, :])
        matrix = picked.permute(2, 4, 1, 3, 5, 0)  # (a, b, c_in, u, v, c_out)
        return matrix.reshape(weight.shape[1] * in_size[0] * in_size[1], -1).contiguous()


def _ablated_linear(convs: list[nn.Conv2d], linears: list[nn.Linear], state: torch.Tensor,
                    clean_windows: list[_AllWindows], clean_linear: list[torch.Tensor], pixels: torch.Tensor,
                    windows) -> list[torch.Tensor]:
    """Pre-activations of the first linear layers for the ablation of each pixel in ``pixels``, given their
    ``windows`` (one per convolution, as from :func:`_windows`; all pixels share the last one)."""
    width = state.shape[2]
    rows, cols = pixels // width, pixels % width
    delta = -state[:, rows, cols].T  # change of the input: the pixel's value -> 0, (P, C)
    for conv, pre, (out_r, out_c, len_r, len_c) in zip(convs, clean_windows, windows):
        if conv is convs[0]:
            (s_r, s_c) = conv.stride
            delta_pre = _first_layer_delta(conv, delta, rows - out_r * s_r, cols - out_c * s_c, len_r, len_c)
        else:
            delta_pre = _conv_delta(conv, delta, rows, cols, out_r, out_c, len_r, len_c)
        clean_window = pre.at(out_r, out_c)
        delta = _relu_change(delta_pre, clean_window)  # delta_pre is always a fresh tensor
        rows, cols = out_r, out_c
    start, size = (int(rows[0]), int(cols[0])), tuple(delta.shape[1:3])
    features_shape = clean_windows[-1].shape
    weights = [_WindowWeights.of(layer).get(features_shape, size, start) for layer in linears]
    _, minus_positive = clean_window  # -max(pre, 0) on the last convolution's window, which the whole batch shares
    off_in_clean = minus_positive[0].reshape(-1) == 0
    return _first_linear_update(delta.reshape(len(pixels), -1), off_in_clean, weights, clean_linear)


def _first_linear_update(change: torch.Tensor, off_in_clean: torch.Tensor, weights: list[torch.Tensor],
                         clean_linear: list[torch.Tensor]) -> list[torch.Tensor]:
    """Pre-activations ``clean + change @ weight`` of the first linear layers for a batch's feature changes
    ``change`` (P, F), with ``weights`` (F, out) each. A feature that no ablation of the batch changes (a unit off
    before and after) needs no weights. A unit on in the clean state changes with nearly every ablation that reaches
    it, but one off in it (``off_in_clean``) changes only for the few ablations that turn it on: in the Atari agents
    such units are most of the changed ones (Pong DDQN: 381 of 461 per batch, 12 of 57 per ablation), so where they
    are at least as many as the others, their changes enter as a sparse product (one ``embedding_bag`` over the
    nonzero changes), the others as one dense product. Side by side with one dense product over all used features
    (one thread, three random-play states, five interleaved repeats) the whole path was 1.10x as fast on the Pong
    DDQN agent, 1.21x on BankHeist DDQN and 1.09x on Freeway SA-DDQN; in a random network and in RoadRunner SA-DDQN
    few units are turned on, and the dense product alone runs (0.98x and 1.00x, the noise)."""
    used = _nonzero_along(change, 0)
    turned_on = off_in_clean[used]
    dense, sparse = used[~turned_on], used[turned_on]
    if len(sparse) < len(dense):
        dense, sparse = used, used[:0]
    out = [torch.addmm(clean, change.index_select(1, dense), weight.index_select(0, dense))
           for weight, clean in zip(weights, clean_linear)]
    if len(sparse):
        sparse_change = change.index_select(1, sparse)
        pixel, column = sparse_change.bool().nonzero(as_tuple=True)  # row-major: by pixel; bool first: 1.4x as fast
        first_of_pixel = torch.searchsorted(pixel, torch.arange(len(change), device=change.device))
        values, features = sparse_change[pixel, column], sparse[column]
        for pre, weight in zip(out, weights):
            pre.add_(nn.functional.embedding_bag(features, weight, first_of_pixel, mode="sum", per_sample_weights=values))
    return out


class _WindowWeights(_WeightDerived):
    """The transposed weights of a linear layer on the flattened features, restricted to one window of the
    last convolution's output, rows channels last: (h * w * C, out); key (features shape, window size, window
    start)."""

    _kept = weakref.WeakKeyDictionary()

    @staticmethod
    def _build(layer: nn.Linear, features_shape, size, start) -> torch.Tensor:
        window = layer.weight.view(-1, *features_shape)[:, :, start[0]:start[0] + size[0], start[1]:start[1] + size[1]]
        return window.permute(0, 2, 3, 1).reshape(window.shape[0], -1).T.contiguous()
