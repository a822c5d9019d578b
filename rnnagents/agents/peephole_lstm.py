"""The vanilla LSTM with peephole connections (Graves & Schmidhuber 2005; Greff et al. 2017).

``torch.nn.LSTMCell`` has no peepholes, so the cell is written out here. With input ``x``, the
previous output ``y`` and cell state ``c``:

    z   = tanh(W_z x + R_z y + b_z)                   block input
    i   = sigmoid(W_i x + R_i y + p_i * c + b_i)       input gate, peeking at c_{t-1}
    f   = sigmoid(W_f x + R_f y + p_f * c + b_f)       forget gate, peeking at c_{t-1}
    c'  = i * z + f * c
    o   = sigmoid(W_o x + R_o y + p_o * c' + b_o)      output gate, peeking at the new c_t
    y'  = o * tanh(c')

The peephole weights ``p`` are vectors (diagonal matrices), as in the paper.
"""

from __future__ import annotations

import torch
from torch import nn


class PeepholeLSTMCell(nn.Module):
    """One step of the peephole LSTM: ``(x, (y, c)) -> (y', c')``, each ``[B, hidden]``."""

    def __init__(self, input_size: int, hidden_size: int) -> None:
        super().__init__()
        self.hidden_size = hidden_size
        self.input_weights = nn.Linear(input_size, 4 * hidden_size)  # W_z, W_i, W_f, W_o and b
        self.recurrent_weights = nn.Linear(hidden_size, 4 * hidden_size, bias=False)  # R
        self.peephole_input = nn.Parameter(torch.empty(hidden_size))
        self.peephole_forget = nn.Parameter(torch.empty(hidden_size))
        self.peephole_output = nn.Parameter(torch.empty(hidden_size))
        bound = hidden_size**-0.5  # torch's LSTMCell initialization, peepholes included
        for weight in self.parameters():
            nn.init.uniform_(weight, -bound, bound)

    def forward(
        self, x: torch.Tensor, state: tuple[torch.Tensor, torch.Tensor]
    ) -> tuple[torch.Tensor, torch.Tensor]:
        y, c = state
        z, i, f, o = (self.input_weights(x) + self.recurrent_weights(y)).chunk(4, dim=-1)
        i = torch.sigmoid(i + self.peephole_input * c)
        f = torch.sigmoid(f + self.peephole_forget * c)
        c = i * torch.tanh(z) + f * c
        o = torch.sigmoid(o + self.peephole_output * c)
        return o * torch.tanh(c), c
