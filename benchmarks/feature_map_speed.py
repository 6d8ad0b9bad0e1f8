"""Seconds per state for exact single-pixel ablation maps (KMAP), side by side, on this machine.

Same network (a random dueling Nature-CNN unless --agent is given), same real Atari states; every method is
warmed up once, then timed --repeats times, interleaved (benchmarks/timing.py), and the median is reported:
  literal   the paper's Algorithm 1, one forward pass per pixel
  dense     paperlib's batched dense path (any nn.Module)
  ours      paperlib's incremental path (windowed change propagation; its pixel batches run on --threads
            worker threads of one torch thread each)
  captum-1  Captum FeatureAblation, default perturbations_per_eval=1
  captum-64 Captum FeatureAblation, perturbations_per_eval=64
Captum computes KMAP exactly through the forward function x -> Q(s, argmax_a Q(x, a)), so its maps are
compared with ours as a cross-check. Captum is a benchmark-only dependency: pip install captum.

It also counts the work: multiply-adds in matrix products and convolutions per state (torch's FlopCounterMode)
of ours and of the dense path, and of the first step of an exact linearisation around the clean state (the
Jacobian of the policy's first linear pre-activations with respect to the input, by one vector-Jacobian product
per unit), and the floor of an incremental method, the multiply-adds of propagating only the nonzero changes
unit by unit; and, per ablation, the ReLU units whose sign the ablation flips in each layer, which that
linearisation would still have to correct (each flip's change propagates onwards).

On CUDA (--device cuda) every timed call ends with a synchronisation, and the work counts and ReLU flips are
those of the same computations on that device.

Usage: python benchmarks/feature_map_speed.py [--states 2] [--repeats 3] [--threads 1] [--device cpu]
       [--agent data/agents/pong-ddqn | --game RoadRunner]
"""
from __future__ import annotations

import argparse
import statistics
import time
from typing import Callable

import numpy as np
import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from benchmarks.timing import describe, machine, time_interleaved
from paperlib.ablation import ablated_q_dense, ablated_q_incremental, ablated_q_literal, conv_stack
from paperlib.agents import load_agent
from paperlib.devices import resolve_device
from paperlib.envs import AtariEnvs, EnvConfig
from paperlib.feature_maps import kmap_from_q
from paperlib.games import get_game
from paperlib.networks import build_network
from paperlib.preprocess import to_network_input


def sample_states(game: str, count: int, device: torch.device | str = "cpu", seed: int = 0) -> torch.Tensor:
    """``count`` random-play states of ``game`` (one every 60 frames), built on ``device``."""
    rng = np.random.default_rng(seed)
    with AtariEnvs(EnvConfig(game)) as envs:
        obs = envs.reset(seed=seed)
        states = []
        for step in range(60 * count):
            obs = envs.step(rng.integers(0, envs.n_actions, 1)).obs
            if step % 60 == 59:
                states.append(obs[0])
    return to_network_input(np.stack(states), device)


def captum_kmap(network: torch.nn.Module, state: torch.Tensor, per_eval: int) -> torch.Tensor:
    from captum.attr import FeatureAblation

    with torch.no_grad():
        q_clean = network(state.unsqueeze(0))[0]
    forward = lambda x: q_clean[network(x).argmax(dim=1)]  # noqa: E731  K = f(s) - f(Z_ij(s))
    mask = torch.arange(state[0].numel(), device=state.device).reshape(1, 1, *state.shape[1:]).expand(1, *state.shape)
    with torch.no_grad():
        return FeatureAblation(forward).attribute(state.unsqueeze(0), baselines=0.0, feature_mask=mask,
                                                  perturbations_per_eval=per_eval)[0, 0].reshape(-1)


def multiply_adds(compute: Callable[[], object]) -> float:
    """Multiply-adds (flops / 2) in the matrix products and convolutions of one call of ``compute``."""
    with FlopCounterMode(display=False) as counter:
        compute()
    return counter.get_total_flops() / 2


def jacobian_multiply_adds(network: torch.nn.Module, state: torch.Tensor) -> tuple[float, float]:
    """(multiply-adds, seconds) of the input Jacobian of the pre-activations of the linear layers the policy
    depends on, one vector-Jacobian product per unit (the clean forward pass excluded)."""
    stack = conv_stack(network)
    layers = [stack.linears[i] for i in (stack.policy_linears or range(len(stack.linears)))]
    units = sum(layer.out_features for layer in layers)
    inputs = state.expand(units, *state.shape).clone().requires_grad_()
    features = inputs
    for conv in stack.convs:
        features = torch.relu(conv(features))
    pre = torch.cat([layer(features.flatten(1)) for layer in layers], dim=1)
    start = time.perf_counter()
    with FlopCounterMode(display=False) as counter:
        torch.autograd.grad(pre, inputs, torch.eye(units, device=state.device))
    return counter.get_total_flops() / 2, time.perf_counter() - start


def ablated_layers(network: torch.nn.Module, state: torch.Tensor):
    """The conv-stack view of ``network``, its layer names, and per layer its input and its pre-activation for the
    clean state (batch 1) and for every single-pixel ablation (batch H * W); pre-activations flattened per example."""
    stack = conv_stack(network)
    channels, height, width = state.shape
    pixels = torch.arange(height * width, device=state.device)
    ablated = state.expand(len(pixels), channels, height, width).clone()
    ablated[pixels, :, pixels // width, pixels % width] = 0.0

    def layers(x: torch.Tensor) -> list[tuple[torch.Tensor, torch.Tensor]]:
        out = []
        for conv in stack.convs:
            pre = conv(x)
            out.append((x, pre.flatten(1)))
            x = torch.relu(pre)
        return out + [(x.flatten(1), layer(x.flatten(1))) for layer in stack.linears]

    with torch.no_grad():  # the clean state in the same batch: the same kernels, so unchanged values are equal bit for bit
        both = layers(torch.cat([ablated, state.unsqueeze(0)]))
    clean = [(inputs[-1:], pre[-1:]) for inputs, pre in both]
    changed = [(inputs[:-1], pre[:-1]) for inputs, pre in both]
    names = [f"conv{i + 1}" for i in range(len(stack.convs))] + [f"linear{i + 1}" for i in range(len(stack.linears))]
    return stack, names, clean, changed


def relu_flips(layers) -> dict[str, tuple[float, float]]:
    """Per layer with a ReLU, from :func:`ablated_layers`: (mean number of units whose sign the ablation flips, fraction
    of pixels with a flip)."""
    _, names, clean, changed = layers
    flips = {}
    for name, (_, before), (_, after) in zip(names, clean, changed):
        count = ((before > 0) != (after > 0)).sum(dim=1).float()
        flips[name] = (float(count.mean()), float((count > 0).float().mean()))
    return flips


def sparse_work_floor(layers) -> float:
    """From :func:`ablated_layers`, the multiply-adds per state of a propagation that touches only the nonzero
    changes, from the ablated pixel up to the pre-activations of the linear layers the policy depends on: for every
    ablation and layer, each input unit the ablation changes times the weights it meets (a convolution's input cell:
    C_out times the number of output cells whose kernel covers it; a linear layer's input: its out_features). The
    arithmetic floor of an exact incremental method that propagates changes unit by unit."""
    stack, _, clean, changed = layers
    policy = [stack.linears[i] for i in (stack.policy_linears or range(len(stack.linears)))]
    floor = 0.0
    for conv, (before, _), (after, _) in zip(stack.convs, clean, changed):
        moved = (after != before).flatten(2).sum(dim=(0, 1)).float()  # per input cell, over pixels and channels
        sizes = list(zip(before.shape[2:], conv.kernel_size, conv.stride))
        # per input cell, the output cells whose kernel covers it (output_padding: the cells no kernel reaches)
        like = {"device": before.device}
        meets = nn.functional.conv_transpose2d(torch.ones(1, 1, *[(n - k) // s + 1 for n, k, s in sizes], **like),
                                               torch.ones(1, 1, *conv.kernel_size, **like), stride=conv.stride,
                                               output_padding=[(n - k) % s for n, k, s in sizes])
        floor += float(moved @ meets.reshape(-1)) * conv.out_channels
    before, after = clean[len(stack.convs)][0], changed[len(stack.convs)][0]
    return floor + float((after != before).sum()) * sum(layer.out_features for layer in policy)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--states", type=int, default=2, help="random-play states to time (default: 2)")
    parser.add_argument("--repeats", type=int, default=3, help="timed runs of each method, interleaved")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads (default: 1)")
    parser.add_argument("--device", default="cpu", help="torch device of the network and states: cpu (default) "
                        "or cuda")
    parser.add_argument("--agent", help="agent stem (default: a random dueling Nature-CNN)")
    parser.add_argument("--game", default="Pong", help="game of the states when no --agent is given (default: Pong)")
    parser.add_argument("--skip-slow", action="store_true", help="skip the literal loop and Captum's default")
    args = parser.parse_args()
    try:
        device = resolve_device(args.device)
    except ValueError as err:
        parser.error(str(err))
    torch.set_num_threads(args.threads)
    if args.agent:
        network, card = load_agent(args.agent, device)
        game = card.game
    else:
        torch.manual_seed(0)
        game = args.game
        network = build_network("dueling", 1, get_game(game).n_actions).eval().to(device)
    states = sample_states(game, args.states, device)

    def finished(results: list) -> list:  # CUDA runs asynchronously: time until the work is done
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        return results

    def ours(state):  # Q up to a per-pixel constant: all that KMAP and HMAP depend on
        return ablated_q_incremental(network, state, up_to_shift=True)

    methods = {"ours": ours, "dense": lambda s: ablated_q_dense(network, s)}
    if not args.skip_slow:
        methods["literal"] = lambda s: ablated_q_literal(network, s)
        methods["captum-1"] = lambda s: captum_kmap(network, s, 1)
    methods["captum-64"] = lambda s: captum_kmap(network, s, 64)
    seconds, results = time_interleaved({name: lambda m=method: finished([m(s) for s in states])
                                         for name, method in methods.items()}, args.repeats)
    with torch.no_grad():
        kmaps = {name: [r if name.startswith("captum") else kmap_from_q(network(s.unsqueeze(0))[0], r)
                        for s, r in zip(states, results[name])] for name in methods}
    ours = statistics.median(seconds["ours"])
    on = f"{torch.cuda.get_device_name(device)}, " if device.type == "cuda" else ""
    print(f"{len(states)} {game} state(s), {args.repeats} repeats; {on}{machine()}")
    print(f"{'method':10s} {'s/state (range)':>22s} {'ratio to ours':>14s} {'max |K - K_ours|':>17s}")
    for name in methods:
        diff = max(float((a - b).abs().max()) for a, b in zip(kmaps[name], kmaps["ours"]))
        ratio = statistics.median(seconds[name]) / ours
        print(f"{name:10s} {describe(seconds[name], len(states)):>22s} {ratio:14.1f} {diff:17.2e}")
    # FlopCounterMode sees only the calling thread, so count ours with its batches run on this one
    ours_work = multiply_adds(lambda: ablated_q_incremental(network, states[0], up_to_shift=True, workers=1))
    dense_work = multiply_adds(lambda: methods["dense"](states[0]))
    jacobian_work, jacobian_seconds = jacobian_multiply_adds(network, states[0])
    per_state = {name: statistics.median(seconds[name]) / len(states) for name in ("ours", "dense")}
    print("work per state, multiply-adds in matrix products and convolutions (first state; rate: over the median "
          "time per state):")
    print(f"  ours {ours_work / 1e9:.2f} G ({ours_work / per_state['ours'] / 1e9:.1f} G/s), dense "
          f"{dense_work / 1e9:.2f} G ({dense_work / per_state['dense'] / 1e9:.1f} G/s, "
          f"{dense_work / ours_work:.1f}x ours); the linearisation's input Jacobian alone "
          f"{jacobian_work / 1e9:.2f} G ({jacobian_seconds:.2f} s)")
    layers = ablated_layers(network, states[0])
    floor = sparse_work_floor(layers)
    print(f"  a propagation of only the nonzero changes, unit by unit: {floor / 1e9:.2f} G "
          f"({ours_work / floor:.1f}x less than ours)")
    print(f"{'layer':10s} {'ReLU flips per ablation':>24s} {'pixels with a flip':>19s}  (first state)")
    for layer, (mean, share) in relu_flips(layers).items():
        print(f"{layer:10s} {mean:24.1f} {share:19.1%}")


if __name__ == "__main__":
    main()
