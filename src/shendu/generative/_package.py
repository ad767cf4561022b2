"""Generative packages: `weights.safetensors` + `generative.json` (kind, shape, config, metrics, vocabulary or
code statistics) under SHENDU_HOME/packages/<run_id>. Never pickle. `generate()` is `shendu generate`."""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from shendu import _settings
from shendu.errors import BadInputError


@dataclass
class GenerativePackage:
    module: torch.nn.Module
    meta: dict[str, Any]

    @property
    def kind(self) -> str:
        return self.meta["kind"]

    @torch.no_grad()
    def images(self, n: int, seed: int = 0) -> torch.Tensor:
        """n new images in [0, 1]: prior samples (vae, gan) or decoded draws from N(mean, std²) of the
        training codes (autoencoders). (n, C, H, W)"""
        generator = torch.Generator().manual_seed(seed)
        self.module.eval()
        if self.kind in ("vae", "gan"):
            return self.module.sample(n, generator)
        if self.kind == "char_rnn":
            raise BadInputError("a char_rnn package generates text; use --prime / --length / --temperature")
        if self.kind == "dbn_classifier":
            raise BadInputError("a dbn_classifier package classifies, it does not generate; use a vae, gan or "
                                "autoencoder package")
        mean, std = torch.tensor(self.meta["code_mean"]), torch.tensor(self.meta["code_std"])
        codes = mean + std * torch.randn(n, len(mean), generator=generator)
        return torch.sigmoid(self.module.decode(codes))

    def text(self, prime: str, length: int, temperature: float = 1.0, seed: int = 0) -> str:
        """`prime` continued by `length` characters sampled at `temperature` (char_rnn packages)."""
        if self.kind != "char_rnn":
            raise BadInputError(f"a {self.kind} package generates images; drop --prime / --length")
        from shendu.generative.char_rnn import Vocabulary

        vocab = Vocabulary(self.meta["chars"])
        ids = self.module.sample(vocab.encode(prime), length, temperature, torch.Generator().manual_seed(seed))
        return prime + vocab.decode(ids)


def load_generative(path: str | Path) -> GenerativePackage:
    """Load a package directory (or a run id whose package is under SHENDU_HOME/packages)."""
    from safetensors.torch import load_file

    from shendu.config import ExperimentConfig
    from shendu.generative._tasks import create_task

    folder = Path(path)
    if not folder.is_dir():
        folder = _settings.subdir("packages") / str(path)
    meta_path = folder / "generative.json"
    if not meta_path.is_file():
        raise BadInputError(f"{path}: expected a generative package directory with generative.json and "
                            "weights.safetensors (made by `shendu train` with a generative section), or its run id")
    meta = json.loads(meta_path.read_text(encoding="utf-8"))
    config = ExperimentConfig.from_dict(meta["config"])
    config.generative.pretrain_epochs = 0
    task = create_task(config, tuple(meta["shape"]), 1, len(meta.get("classes", [])))
    task.module.load_state_dict(load_file(str(folder / "weights.safetensors")))
    return GenerativePackage(task.module.eval(), meta)
