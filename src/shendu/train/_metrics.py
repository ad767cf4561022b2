"""Classification metrics computed in batches on whatever device the model lives on."""
from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F


class MetricSums:
    """Running sums of loss, top-1 and top-5 hits; values stay on the device until `result()`."""

    def __init__(self, num_classes: int, device: torch.device) -> None:
        self.top5 = num_classes > 5  # top-5 only means something with more than five classes
        self.loss = torch.zeros((), dtype=torch.float64, device=device)
        self.correct = torch.zeros((), dtype=torch.int64, device=device)
        self.correct5 = torch.zeros((), dtype=torch.int64, device=device)
        self.count = 0

    def update(self, logits: torch.Tensor, target: torch.Tensor, loss_sum: torch.Tensor) -> None:
        self.loss += loss_sum.detach().double()
        self.correct += (logits.argmax(dim=1) == target).sum()
        if self.top5:
            top = logits.topk(5, dim=1).indices  # (B, 5)
            self.correct5 += (top == target.unsqueeze(1)).any(dim=1).sum()
        self.count += target.numel()

    def result(self, prefix: str) -> dict[str, float]:
        n = max(self.count, 1)
        out = {f"{prefix}_loss": self.loss.item() / n, f"{prefix}_accuracy": self.correct.item() / n}
        if self.top5:
            out[f"{prefix}_top5_accuracy"] = self.correct5.item() / n
        return out


@torch.no_grad()
def evaluate(model: nn.Module, x: torch.Tensor, y: torch.Tensor, num_classes: int, prefix: str,
             batch_size: int = 1024) -> dict[str, float]:
    """Loss / accuracy / top-5 of `model` on preprocessed inputs `x` and labels `y` (same device)."""
    was_training = model.training
    model.eval()
    sums = MetricSums(num_classes, x.device)
    for start in range(0, x.shape[0], batch_size):
        xb, yb = x[start:start + batch_size], y[start:start + batch_size]
        logits = model(xb)
        sums.update(logits, yb, F.cross_entropy(logits, yb, reduction="sum"))
    model.train(was_training)
    return sums.result(prefix)
