"""fastrnn.RNN, LSTM and GRU (both backends) against torch.nn.RNN, LSTM and GRU in float64:
weights loaded from a torch module's state_dict (as NumPy arrays), then the outputs, the
final states and every gradient (input, initial states, each parameter) must agree to
1e-10, for stacked, bidirectional, batch-first and variable-length batches (torch's
pack_padded_sequence with enforce_sorted=False, padded back with total_length=T).

Skipped, with the reason shown, when torch is not installed.
"""

from __future__ import annotations

import numpy as np
import pytest
from _helpers import layer_data, layer_run, states_of
from numpy.testing import assert_allclose

import fastrnn
from fastrnn import reference

torch = pytest.importorskip("torch", reason="torch is not installed: no comparison with it")
torch.set_num_threads(1)

MODULES = [reference, fastrnn]
MODULE_IDS = ["reference", "fast"]
CELLS = ["RNN", "LSTM", "GRU"]
TORCH_TOL = dict(rtol=1e-10, atol=1e-12)  # same math, different summation order
T, B, D, H = 5, 4, 3, 4
LENGTHS = np.array([3, 5, 1, 4])  # unsorted, as enforce_sorted=False allows


def torch_run(net, cell, d, lengths, batch_first):
    """torch's outputs and gradients for the loss of layer_run, under layer_run's names:
    out, the final states, dx, the initial states' gradients, grads[name] in the order of
    net.named_parameters()."""
    pack = torch.nn.utils.rnn
    x = torch.tensor(d["x"], requires_grad=True)
    initial = [torch.tensor(d[f"{s}0"], requires_grad=True) for s in states_of(cell)]
    inputs = x
    if lengths is not None:
        inputs = pack.pack_padded_sequence(
            x, torch.tensor(lengths), batch_first=batch_first, enforce_sorted=False
        )
    out, finals = net(inputs, tuple(initial) if cell == "LSTM" else initial[0])
    if lengths is not None:
        out, _ = pack.pad_packed_sequence(out, batch_first=batch_first, total_length=T)
    finals = finals if cell == "LSTM" else (finals,)
    loss = (out * torch.from_numpy(d["dout"])).sum()
    for s, final in zip(states_of(cell), finals, strict=True):
        loss = loss + (final * torch.from_numpy(d[f"d{s}_n"])).sum()
    loss.backward()
    results = {"out": out.detach().numpy()}
    names = states_of(cell)
    results.update({f"{s}_n": f.detach().numpy() for s, f in zip(names, finals, strict=True)})
    results["dx"] = x.grad.numpy()
    results.update({f"d{s}0": h.grad.numpy() for s, h in zip(names, initial, strict=True)})
    results.update({f"grads[{name!r}]": p.grad.numpy() for name, p in net.named_parameters()})
    return results


def batch_first_view(d):
    """d with x and dout as (B, T, ·): the states stay (layers, B, H)."""
    return {name: np.swapaxes(a, 0, 1) if name in ("x", "dout") else a for name, a in d.items()}


def assert_agree(got, want):
    assert list(got) == list(want)  # every gradient, under torch's names and order
    for name in want:
        assert got[name].shape == want[name].shape, name
        assert_allclose(got[name], want[name], **TORCH_TOL, err_msg=name)


@pytest.mark.parametrize("lengths", [None, LENGTHS], ids=["padded-none", "packed"])
@pytest.mark.parametrize("batch_first", [False, True], ids=["time-major", "batch-first"])
@pytest.mark.parametrize("bidirectional", [False, True], ids=["uni", "bi"])
@pytest.mark.parametrize("num_layers", [1, 2])
@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize("module", MODULES, ids=MODULE_IDS)
def test_matches_torch(module, cell, num_layers, bidirectional, batch_first, lengths):
    torch.manual_seed(num_layers)
    kwargs = dict(bidirectional=bidirectional, batch_first=batch_first)
    net = getattr(torch.nn, cell)(D, H, num_layers, dtype=torch.float64, **kwargs)
    model = getattr(module, cell)(D, H, num_layers, dtype=np.float64, seed=9, **kwargs)
    model.load_state_dict({k: v.detach().numpy() for k, v in net.state_dict().items()})
    d = layer_data(
        np.random.default_rng(num_layers), cell, num_layers, bidirectional, T=T, B=B, D=D, H=H
    )
    if batch_first:
        d = batch_first_view(d)
    want = torch_run(net, cell, d, lengths, batch_first)
    got = layer_run(model, d, lengths)
    assert_agree(got, want)


@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize("module", MODULES, ids=MODULE_IDS)
def test_matches_torch_without_bias_and_torch_loads_ours(module, cell):
    """The other direction of the round trip: torch runs weights made by fastrnn."""
    model = getattr(module, cell)(D, H, 2, bias=False, bidirectional=True, dtype=np.float64)
    net = getattr(torch.nn, cell)(D, H, 2, bias=False, bidirectional=True, dtype=torch.float64)
    net.load_state_dict({k: torch.from_numpy(v) for k, v in model.state_dict().items()})
    d = layer_data(np.random.default_rng(10), cell, 2, True, T=T, B=B, D=D, H=H)
    assert_agree(layer_run(model, d, LENGTHS), torch_run(net, cell, d, LENGTHS, False))


@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize("module", MODULES, ids=MODULE_IDS)
def test_state_dict_layout_matches_torch(module, cell):
    net = getattr(torch.nn, cell)(D, H, 3, bidirectional=True, dtype=torch.float64)
    model = getattr(module, cell)(D, H, 3, bidirectional=True, dtype=np.float64)
    want = {name: tuple(p.shape) for name, p in net.state_dict().items()}
    got = {name: a.shape for name, a in model.state_dict().items()}
    assert list(got.items()) == list(want.items())
