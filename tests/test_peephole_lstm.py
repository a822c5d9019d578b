"""The peephole LSTM: one step computed by hand, exact gradients, and each peephole at work."""

from __future__ import annotations

import math

import torch

from rnnagents.agents.peephole_lstm import PeepholeLSTMCell


def sigmoid(v: float) -> float:
    return 1 / (1 + math.exp(-v))


def test_one_step_matches_the_equations_computed_by_hand():
    """hidden 1, input 1: every weight set by hand, the step worked out with scalars."""
    cell = PeepholeLSTMCell(1, 1)
    with torch.no_grad():
        # rows of W, R and b are ordered z, i, f, o
        cell.input_weights.weight.copy_(torch.tensor([[0.5], [-0.3], [0.8], [0.2]]))
        cell.input_weights.bias.copy_(torch.tensor([0.1, 0.2, -0.1, 0.05]))
        cell.recurrent_weights.weight.copy_(torch.tensor([[0.4], [0.1], [-0.2], [0.3]]))
        cell.peephole_input.fill_(0.7)
        cell.peephole_forget.fill_(-0.6)
        cell.peephole_output.fill_(0.9)
    x, y, c = 1.5, -0.4, 0.3
    z = math.tanh(0.5 * x + 0.4 * y + 0.1)
    i = sigmoid(-0.3 * x + 0.1 * y + 0.7 * c + 0.2)
    f = sigmoid(0.8 * x - 0.2 * y - 0.6 * c - 0.1)
    c_new = i * z + f * c
    o = sigmoid(0.2 * x + 0.3 * y + 0.9 * c_new + 0.05)  # peeks at the new cell state
    y_new = o * math.tanh(c_new)
    out_y, out_c = cell(torch.tensor([[x]]), (torch.tensor([[y]]), torch.tensor([[c]])))
    assert math.isclose(out_c.item(), c_new, rel_tol=1e-6)
    assert math.isclose(out_y.item(), y_new, rel_tol=1e-6)


def test_gradients_match_finite_differences():
    torch.manual_seed(0)
    cell = PeepholeLSTMCell(3, 4).double()
    x = torch.randn(2, 3, dtype=torch.float64, requires_grad=True)
    y = torch.randn(2, 4, dtype=torch.float64, requires_grad=True)
    c = torch.randn(2, 4, dtype=torch.float64, requires_grad=True)

    def two_steps(x, y, c):
        return cell(x, cell(x, (y, c)))

    assert torch.autograd.gradcheck(two_steps, (x, y, c))
    loss = sum(part.sum() for part in two_steps(x, y, c))
    loss.backward()
    for name, parameter in cell.named_parameters():
        assert parameter.grad is not None and parameter.grad.abs().sum() > 0, name


def test_each_peephole_changes_the_output():
    """Without peepholes the cell is torch's LSTM arithmetic; each one makes a difference."""
    torch.manual_seed(1)
    cell = PeepholeLSTMCell(3, 5)
    x, y, c = torch.randn(4, 3), torch.randn(4, 5), torch.randn(4, 5)
    reference = torch.nn.LSTMCell(3, 5)
    with torch.no_grad():
        order = [1, 2, 0, 3]  # torch's rows are i, f, g(z), o; ours z, i, f, o
        w = cell.input_weights.weight.view(4, 5, 3)[order].reshape(20, 3)
        reference.weight_ih.copy_(w)
        reference.bias_ih.copy_(cell.input_weights.bias.view(4, 5)[order].reshape(20))
        reference.weight_hh.copy_(cell.recurrent_weights.weight.view(4, 5, 5)[order].reshape(20, 5))
        reference.bias_hh.zero_()
        peepholes = [cell.peephole_input, cell.peephole_forget, cell.peephole_output]
        saved = [p.clone() for p in peepholes]
        for p in peepholes:
            p.zero_()
        without = cell(x, (y, c))
        expected = reference(x, (y, c))
        torch.testing.assert_close(without, expected)
        for p, value in zip(peepholes, saved, strict=True):
            p.copy_(value)
            assert not torch.allclose(cell(x, (y, c))[0], without[0])
            p.zero_()
