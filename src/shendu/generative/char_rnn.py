"""char-RNN (Karpathy 2015): an LSTM language model over the characters of any text file, sampled with a
temperature: p(c) ∝ exp(logit_c / T), T < 1 sharper, T > 1 more varied, T → 0 greedy."""
from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from shendu.errors import BadInputError


class CharRNN(nn.Module):
    """Embedding → LSTM → linear over the vocabulary.

    Args:
        vocab_size: number of distinct characters.
        hidden: LSTM width.
        layers: stacked LSTM layers.
        dropout: between LSTM layers.
    """

    def __init__(self, vocab_size: int, hidden: int = 256, layers: int = 2, dropout: float = 0.0) -> None:
        super().__init__()
        self.vocab_size = vocab_size
        self.embed = nn.Embedding(vocab_size, hidden)
        self.lstm = nn.LSTM(hidden, hidden, layers, batch_first=True, dropout=dropout if layers > 1 else 0.0)
        self.head = nn.Linear(hidden, vocab_size)

    def forward(self, tokens: torch.Tensor, state: tuple[torch.Tensor, torch.Tensor] | None = None
                ) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor]]:
        """tokens (B, L) → logits (B, L, vocab) and the LSTM state."""
        out, state = self.lstm(self.embed(tokens), state)  # (B, L, hidden)
        return self.head(out), state

    @torch.no_grad()
    def sample(self, prime: list[int], length: int, temperature: float = 1.0,
               generator: torch.Generator | None = None) -> list[int]:
        """Continue the token ids `prime` by `length` ids drawn at `temperature` (0 = greedy)."""
        if not prime:
            raise BadInputError("char-RNN sampling needs a non-empty prime text (e.g. the first character)")
        if temperature < 0:
            raise BadInputError(f"temperature: expected ≥ 0 (0 = greedy), received {temperature}")
        was = self.training
        self.eval()
        device = self.head.weight.device
        logits, state = self(torch.tensor([prime], device=device))
        last, out = logits[0, -1], []
        for _ in range(length):
            if temperature == 0:
                token = int(last.argmax())
            else:
                probs = F.softmax(last / temperature, dim=-1)
                token = int(torch.multinomial(probs.cpu(), 1, generator=generator))
            out.append(token)
            logits, state = self(torch.tensor([[token]], device=device), state)
            last = logits[0, -1]
        self.train(was)
        return out


class Vocabulary:
    """Characters ↔ ids, built from the text itself (sorted, so the same text gives the same ids)."""

    def __init__(self, chars: list[str]) -> None:
        self.chars = chars
        self.index = {c: i for i, c in enumerate(chars)}

    @classmethod
    def from_text(cls, text: str) -> "Vocabulary":
        return cls(sorted(set(text)))

    def encode(self, text: str) -> list[int]:
        missing = sorted(set(text) - set(self.index))
        if missing:
            raise BadInputError(f"characters not in the vocabulary: {''.join(missing[:20])!r}; "
                                "prime with characters from the training text")
        return [self.index[c] for c in text]

    def decode(self, ids: list[int]) -> str:
        return "".join(self.chars[i] for i in ids)
