import pytest

from benchmarks.timing import describe, time_interleaved


def test_methods_are_warmed_up_then_timed_in_turns():
    calls = []
    methods = {name: (lambda name=name: calls.append(name) or len(calls)) for name in ("a", "b")}
    seconds, results = time_interleaved(methods, repeats=2)
    assert calls == ["a", "b"] * 3  # one untimed warm-up each, then two timed turns
    assert {name: len(times) for name, times in seconds.items()} == {"a": 2, "b": 2}
    assert results == {"a": 5, "b": 6}  # the last call's result


def test_describe_divides_by_the_count():
    assert describe([2.0, 4.0, 9.0], per=2) == "2.000 (1.000-4.500)"


def test_at_least_one_repeat():
    with pytest.raises(ValueError, match="repeats"):
        time_interleaved({"a": lambda: None}, repeats=0)


def test_machine_names_threads_and_load(monkeypatch):
    import os

    import torch

    from benchmarks.timing import machine

    monkeypatch.setattr(os, "getloadavg", lambda: (1.5, 0.25, 3.0))
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        description = machine()
    finally:
        torch.set_num_threads(threads)
    assert description.endswith(", 1 thread(s), load average 1.50 0.25 3.00")
    assert f"torch {torch.__version__} ({torch.backends.cpu.get_cpu_capability()} kernels)" in description


def test_multiply_adds_count_products_and_the_jacobian_one_product_per_unit():
    import torch

    from benchmarks.feature_map_speed import jacobian_multiply_adds, multiply_adds
    from paperlib.networks import build_network

    layer = torch.nn.Linear(4, 3)
    assert multiply_adds(lambda: layer(torch.zeros(2, 4))) == 2 * 4 * 3
    torch.manual_seed(0)
    network = build_network("dueling", 1, 6)
    # per unit of the advantage stream's first layer, one input-gradient pass back through it and the convolutions
    per_unit = 20 * 20 * 32 * 8 * 8 + 9 * 9 * 64 * 32 * 4 * 4 + 7 * 7 * 64 * 64 * 3 * 3 + 3136 * 512
    work, seconds = jacobian_multiply_adds(network, torch.rand(1, 84, 84))
    assert work == 512 * per_unit and seconds > 0


def test_sparse_work_floor_equals_a_unit_by_unit_count():
    import itertools

    import torch

    from benchmarks.feature_map_speed import ablated_layers, sparse_work_floor
    from paperlib.ablation import conv_stack
    from tests.test_feature_maps import ARCHITECTURES, SmallConvQ, _state

    torch.manual_seed(3)
    spec = ARCHITECTURES["non-square"]
    network = SmallConvQ(**spec).eval()
    state = _state(spec["in_channels"], spec["in_shape"], seed=1)
    stack = conv_stack(network)
    expected = 0
    with torch.no_grad():
        for i, j in itertools.product(range(state.shape[1]), range(state.shape[2])):
            x, ablated = state.unsqueeze(0), state.unsqueeze(0).clone()
            ablated[:, :, i, j] = 0.0
            for conv in stack.convs:
                out_h, out_w = conv(x).shape[2:]
                (k_r, k_c), (s_r, s_c) = conv.kernel_size, conv.stride
                for _channel, a, b in (ablated[0] != x[0]).nonzero().tolist():
                    meets = sum(1 for u in range(out_h) for v in range(out_w)
                                if 0 <= a - s_r * u < k_r and 0 <= b - s_c * v < k_c)
                    expected += meets * conv.out_channels
                x, ablated = torch.relu(conv(x)), torch.relu(conv(ablated))
            expected += int((x != ablated).sum()) * sum(layer.out_features for layer in stack.linears)
    assert expected > 0
    assert sparse_work_floor(ablated_layers(network, state)) == expected
