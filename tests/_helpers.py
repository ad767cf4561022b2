"""Helpers shared by several test modules."""
import torch


def randomize_batch_norm(module: torch.nn.Module) -> torch.nn.Module:
    """Non-trivial statistics and affine parameters, so eval-mode BN is really compared (not x/√(1+ε))."""
    with torch.no_grad():
        for layer in module.modules():
            if isinstance(layer, (torch.nn.BatchNorm1d, torch.nn.BatchNorm2d)):
                layer.running_mean.uniform_(-0.5, 0.5), layer.running_var.uniform_(0.5, 2.0)
                layer.weight.uniform_(0.5, 1.5), layer.bias.uniform_(-0.5, 0.5)
    return module.eval()
