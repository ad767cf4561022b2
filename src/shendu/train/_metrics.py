"""Classification metrics computed in batches on whatever device the model lives on."""
from __future__ import annotations

from contextlib import nullcontext

import torch
from torch import nn
from torch.nn import functional as F


class MetricSums:
    """Running sums of loss, top-1 and top-5 hits; values stay on the device until `result()`.

    With `classify=False` (regression) only the loss is summed and reported.
    """

    def __init__(self, num_classes: int, device: torch.device, top5: bool = True, classify: bool = True) -> None:
        self.classify = classify
        self.top5 = classify and top5 and num_classes > 5  # top-5 only means something with more than five classes
        self.loss = torch.zeros((), dtype=torch.float64, device=device)
        self.correct = torch.zeros((), dtype=torch.int64, device=device)
        self.correct5 = torch.zeros((), dtype=torch.int64, device=device)
        self.count = 0

    def update(self, logits: torch.Tensor, target: torch.Tensor, loss_sum: torch.Tensor) -> None:
        self.loss += loss_sum.detach().double()
        self.count += target.shape[0]
        if not self.classify:
            return
        self.correct += (logits.argmax(dim=1) == target).sum()
        if self.top5:
            top = logits.topk(5, dim=1).indices  # (B, 5)
            self.correct5 += (top == target.unsqueeze(1)).any(dim=1).sum()

    def result(self, prefix: str, dist_info=None) -> dict[str, float]:
        """Averages over every sample seen (summed over all DDP ranks when `dist_info` says so)."""
        totals = torch.stack([self.loss, self.correct.double(), self.correct5.double(),
                              torch.tensor(float(self.count), dtype=torch.float64, device=self.loss.device)])
        if dist_info is not None:
            from shendu.train._distributed import all_sum

            totals = all_sum(totals, dist_info)
        loss, correct, correct5, count = totals.tolist()
        n = max(count, 1.0)
        out = {f"{prefix}_loss": loss / n}
        if self.classify:
            out[f"{prefix}_accuracy"] = correct / n
        if self.top5:
            out[f"{prefix}_top5_accuracy"] = correct5 / n
        return out


@torch.no_grad()
def evaluate(model: nn.Module, x: torch.Tensor, y: torch.Tensor, num_classes: int, prefix: str,
             batch_size: int = 1024, autocast=None, dist_info=None) -> dict[str, float]:
    """Loss / accuracy / top-5 of `model` on preprocessed inputs `x` and labels `y` (same device).

    Memory stays bounded: only running sums are kept, never the logits of the whole set. With DDP
    each rank evaluates its own interleaved share and the sums are added up.
    """
    was_training = model.training
    model.eval()
    sums = MetricSums(num_classes, x.device)
    if dist_info is not None and dist_info.enabled:
        x, y = x[dist_info.rank::dist_info.world_size], y[dist_info.rank::dist_info.world_size]
    for start in range(0, x.shape[0], batch_size):
        xb, yb = x[start:start + batch_size], y[start:start + batch_size]
        with autocast() if autocast is not None else nullcontext():
            logits = model(xb).float()
        sums.update(logits, yb, F.cross_entropy(logits, yb, reduction="sum"))
    model.train(was_training)
    return sums.result(prefix, dist_info)
