"""One task per `generative.kind`: its model, optimizers, training step, evaluation and pictures.

The trainer (`_trainer.py`) owns the run: data, batches, the run store, checkpoints, the package. A task
owns what differs between objectives — reconstruction, the ELBO, the two-player GAN loss, next-character
cross-entropy — so a new kind is a new registered task, not a new branch in the trainer.
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Callable

import torch
from torch import nn
from torch.nn import functional as F

from shendu._registry import Registry
from shendu.config import ExperimentConfig
from shendu.errors import BadInputError
from shendu.generative import pictures
from shendu.generative.autoencoder import Autoencoder, ConvAutoencoder, DBNClassifier, unroll
from shendu.generative.char_rnn import CharRNN
from shendu.generative.deep import layer_training
from shendu.generative.gan import DCGAN
from shendu.generative.objectives import corrupt, recon_sq_error, reconstruction_loss, sparsity_penalty
from shendu.generative.rbm import DBN
from shendu.generative.vae import VAE, vae_terms
from shendu.train._optim import build_optimizer, build_scheduler

TASKS: Registry[Callable[..., "Task"]] = Registry("generative kind")
Log = Callable[[dict[str, float], int], None]


class Task:
    """Base: one model, one optimizer from the `optim` section. `shape` is (C, H, W) or ("text", vocab)."""

    def __init__(self, cfg: ExperimentConfig, shape: tuple[int, ...], steps_per_epoch: int,
                 num_classes: int = 0) -> None:
        self.cfg, self.shape, self.num_classes = cfg, tuple(shape), num_classes
        self.args = dict(cfg.generative.args)
        self.module = self.build()
        self.steps_per_epoch = steps_per_epoch
        self.reset_optimizers()
        self.noise = torch.Generator().manual_seed(cfg.train.seed + 1)

    def reset_optimizers(self) -> None:
        """One optimizer and schedule over all parameters (again after pretraining: fresh Adam moments)."""
        self.optimizers = [build_optimizer(self.module, self.cfg.optim)]
        self.schedulers = [build_scheduler(self.optimizers[0], self.cfg.optim, self.cfg.train.epochs,
                                           self.steps_per_epoch)]

    def build(self) -> nn.Module:
        raise NotImplementedError

    def prepare(self, x: torch.Tensor, log: Log) -> None:
        """Before the first epoch (e.g. RBM pretraining); logs through `log(metrics, step)`."""

    def descend(self, loss: torch.Tensor, index: int = 0) -> None:
        optimizer = self.optimizers[index]
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if self.cfg.optim.clip_norm:
            torch.nn.utils.clip_grad_norm_(self.module.parameters(), self.cfg.optim.clip_norm)
        optimizer.step()
        if self.schedulers[index] is not None:
            self.schedulers[index].step()

    def step(self, batch: torch.Tensor, labels: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        raise NotImplementedError

    def evaluate(self, x: torch.Tensor, batch_size: int, labels: torch.Tensor | None = None) -> dict[str, float]:
        raise NotImplementedError

    def draw(self, x: torch.Tensor, y: torch.Tensor, out: Path) -> list[Path]:
        return []

    def package_extra(self, x: torch.Tensor) -> dict[str, Any]:
        """JSON-able facts `shendu generate` needs beyond the weights."""
        return {}


def _batches(x: torch.Tensor, size: int):
    for start in range(0, x.shape[0], size):
        yield x[start:start + size]


class AutoencoderTask(Task):
    """Plain / deep / denoising / sparse fully connected autoencoder on the pixel cross-entropy."""

    def build(self) -> nn.Module:
        c, h, w = self.shape
        args = {"sizes": [c * h * w, 256, 32], **self.args}
        return Autoencoder(image_shape=(c, h, w), **args)

    def step(self, batch: torch.Tensor, labels: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        g = self.cfg.generative
        code = self.module.encode(corrupt(batch, g.noise, g.noise_level, self.noise))
        recon = reconstruction_loss(self.module.decode(code), batch)  # denoising: the target is the clean input
        loss = recon + sparsity_penalty(code, g.sparsity) if g.sparsity else recon
        self.descend(loss)
        return {"loss": loss.detach(), "recon_loss": recon.detach()}

    @torch.no_grad()
    def evaluate(self, x: torch.Tensor, batch_size: int, labels: torch.Tensor | None = None) -> dict[str, float]:
        self.module.eval()
        loss = sq = 0.0
        for batch in _batches(x, batch_size):
            logits = self.module(batch)
            loss += reconstruction_loss(logits, batch).item() * len(batch)
            sq += recon_sq_error(logits, batch).item() * len(batch)
        self.module.train()
        return {"loss": loss / len(x), "recon_sq_error": sq / len(x)}

    @torch.no_grad()
    def codes(self, x: torch.Tensor, batch_size: int = 1000) -> torch.Tensor:
        self.module.eval()
        return torch.cat([self.module.encode(b) for b in _batches(x, batch_size)])

    @torch.no_grad()
    def draw(self, x: torch.Tensor, y: torch.Tensor, out: Path) -> list[Path]:
        self.module.eval()
        kind = self.cfg.generative.kind
        shown = x[:30]
        recon = torch.sigmoid(self.module(shown))
        paths = [pictures.reconstructions(shown, recon, out / "reconstructions.png",
                                          f"{kind}: test images (odd rows) and reconstructions")]
        codes = self.codes(x[:2000])
        ends = [(i, int((y[:2000] != y[i]).nonzero()[0])) for i in range(5)]  # pairs with different labels
        line = torch.cat([pictures.interpolate(codes[a], codes[b], 10) for a, b in ends])
        paths.append(pictures.image_grid(torch.sigmoid(self.module.decode(line)), out / "interpolation.png",
                                         f"{kind}: decoding the straight line between two test codes", rows=5))
        paths.append(pictures.code_scatter(codes, y[:2000], out / "codes.png", f"{kind}: codes of 2,000 test images"))
        return paths

    def package_extra(self, x: torch.Tensor) -> dict[str, Any]:
        codes = self.codes(x[:5000])  # `shendu generate` decodes draws from N(mean, std²) of these codes
        return {"code_mean": codes.mean(0).tolist(), "code_std": codes.std(0).tolist()}


class ConvAutoencoderTask(AutoencoderTask):
    def build(self) -> nn.Module:
        c, h, w = self.shape
        return ConvAutoencoder(in_channels=c, input_size=h, **self.args)


class DBNAutoencoderTask(AutoencoderTask):
    """Hinton & Salakhutdinov 2006: greedy RBM pretraining, unrolling, then fine-tuning by backprop."""

    def build(self) -> nn.Module:
        c, h, w = self.shape
        self.dbn = DBN(self.args.get("sizes", (c * h * w, 1000, 500, 250, 30)),
                       visible=self.args.get("visible", "bernoulli"), code=self.args.get("code", "gaussian"))
        return unroll(self.dbn, (c, h, w))

    def prepare(self, x: torch.Tensor, log: Log) -> None:
        if _pretrain(self, x, log):
            self.module.load_state_dict(unroll(self.dbn, self.shape).state_dict())
            self.reset_optimizers()


def _pretrain(task: Task, x: torch.Tensor, log: Log) -> bool:
    """Greedy CD pretraining of `task.dbn` on x, logging each layer's epochs; False when pretrain_epochs is 0."""
    g, train = task.cfg.generative, task.cfg.train
    if g.pretrain_epochs == 0:
        return False
    cfg = lambda i, rbm: layer_training(rbm, g.pretrain_epochs, train.batch_size, train.seed + i, g.pretrain_lr,
                                        g.cd_k, g.persistent)
    report = lambda layer, epoch, row: log({f"pretrain_rbm{layer + 1}_{k}": v for k, v in row.items()
                                            if k != "epoch"}, layer * g.pretrain_epochs + epoch)
    task.dbn.to(x.device).pretrain(x.flatten(1), cfg, report)
    return True


class VAETask(Task):
    """Kingma & Welling 2014. `args.binarize: true` trains on dynamically binarized pixels and evaluates on one
    seeded binarization of the test set, the setting in which published MNIST ELBOs are reported."""

    def build(self) -> nn.Module:
        self.binarize = bool(self.args.pop("binarize", False))
        return VAE(image_shape=self.shape, **self.args)

    def _pixels(self, x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        return torch.bernoulli(x, generator=generator) if self.binarize else x

    def step(self, batch: torch.Tensor, labels: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        batch = self._pixels(batch, self.noise)
        logits, mu, log_var = self.module(batch)
        terms = vae_terms(logits, batch, mu, log_var)
        self.descend(-terms["elbo"])
        return {"loss": -terms["elbo"].detach(), "recon": terms["recon"].detach(), "kl": terms["kl"].detach()}

    @torch.no_grad()
    def evaluate(self, x: torch.Tensor, batch_size: int, labels: torch.Tensor | None = None) -> dict[str, float]:
        """ELBO in nats per image with one z sample per image, seeded so that every evaluation is comparable."""
        self.module.eval()
        binarizer = torch.Generator().manual_seed(1234)
        totals = {"recon": 0.0, "kl": 0.0, "elbo": 0.0}
        with torch.random.fork_rng():
            torch.manual_seed(4321)
            for batch in _batches(x, batch_size):
                batch = self._pixels(batch, binarizer)
                logits, mu, log_var = self.module(batch)
                for name, value in vae_terms(logits, batch, mu, log_var).items():
                    totals[name] += value.item() * len(batch)
        self.module.train()
        metrics = {name: total / len(x) for name, total in totals.items()}
        metrics["loss"] = -metrics["elbo"]
        return metrics

    @torch.no_grad()
    def draw(self, x: torch.Tensor, y: torch.Tensor, out: Path) -> list[Path]:
        self.module.eval()
        shown = x[:30]
        mu, _ = self.module.encode(shown)
        paths = [pictures.reconstructions(shown, torch.sigmoid(self.module.decode(mu)), out / "reconstructions.png",
                                          "VAE: test images (odd rows) and decoded posterior means")]
        samples = self.module.sample(64, torch.Generator(device=x.device).manual_seed(0))
        paths.append(pictures.image_grid(samples, out / "samples.png", "VAE: samples from the prior N(0, I)", rows=8))
        codes = torch.cat([self.module.encode(b)[0] for b in _batches(x[:2000], 500)])
        ends = [(i, int((y[:2000] != y[i]).nonzero()[0])) for i in range(5)]
        line = torch.cat([pictures.interpolate(codes[a], codes[b], 10) for a, b in ends])
        paths.append(pictures.image_grid(torch.sigmoid(self.module.decode(line)), out / "interpolation.png",
                                         "VAE: decoding the line between two posterior means", rows=5))
        paths.append(pictures.code_scatter(codes, y[:2000], out / "codes.png",
                                           "VAE: posterior means of 2,000 test images"))
        self.module.train()
        return paths


class GANTask(Task):
    """DCGAN: one optimizer per player, both from the `optim` section (the paper: adam, lr 2e-4, beta1 0.5).
    The generator maximizes log D(G(z)) (the non-saturating loss of Goodfellow et al. 2014)."""

    def build(self) -> nn.Module:
        c, h, _ = self.shape
        return DCGAN(in_channels=c, input_size=h, **self.args)

    def __init__(self, cfg: ExperimentConfig, shape: tuple[int, ...], steps_per_epoch: int,
                 num_classes: int = 0) -> None:
        super().__init__(cfg, shape, steps_per_epoch, num_classes)
        self.optimizers = [build_optimizer(self.module.discriminator, cfg.optim),
                           build_optimizer(self.module.generator, cfg.optim)]
        self.schedulers = [build_scheduler(o, cfg.optim, cfg.train.epochs, steps_per_epoch) for o in self.optimizers]

    def _losses(self, real: torch.Tensor, fake: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        d = self.module.discriminator
        real_logit, fake_logit = d(real), d(fake)
        loss_d = (F.binary_cross_entropy_with_logits(real_logit, torch.ones_like(real_logit))
                  + F.binary_cross_entropy_with_logits(fake_logit, torch.zeros_like(fake_logit)))
        return loss_d, real_logit, fake_logit

    def step(self, batch: torch.Tensor, labels: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        real = batch * 2 - 1  # the GAN works in [-1, 1] (tanh output)
        z = torch.randn(len(batch), self.module.latent, device=batch.device)
        fake = self.module.generator(z)
        loss_d, real_logit, fake_logit = self._losses(real, fake.detach())
        self.descend(loss_d, 0)
        gen_logit = self.module.discriminator(fake)
        loss_g = F.binary_cross_entropy_with_logits(gen_logit, torch.ones_like(gen_logit))
        self.descend(loss_g, 1)
        return {"loss": (loss_d + loss_g).detach(), "loss_d": loss_d.detach(), "loss_g": loss_g.detach(),
                "d_real": torch.sigmoid(real_logit).mean().detach(),
                "d_fake": torch.sigmoid(fake_logit).mean().detach()}

    @torch.no_grad()
    def evaluate(self, x: torch.Tensor, batch_size: int, labels: torch.Tensor | None = None) -> dict[str, float]:
        """The discriminator's loss and mean outputs on held-out real images and as many fresh fakes."""
        self.module.eval()
        totals = {"loss_d": 0.0, "d_real": 0.0, "d_fake": 0.0}
        generator = torch.Generator(device=x.device).manual_seed(99)
        for batch in _batches(x, batch_size):
            fake = self.module.generator(torch.randn(len(batch), self.module.latent, generator=generator,
                                                     device=x.device))
            loss_d, real_logit, fake_logit = self._losses(batch * 2 - 1, fake)
            totals["loss_d"] += loss_d.item() * len(batch)
            totals["d_real"] += torch.sigmoid(real_logit).sum().item()
            totals["d_fake"] += torch.sigmoid(fake_logit).sum().item()
        self.module.train()
        metrics = {k: v / len(x) for k, v in totals.items()}
        metrics["loss"] = metrics["loss_d"]
        return metrics

    @torch.no_grad()
    def draw(self, x: torch.Tensor, y: torch.Tensor, out: Path) -> list[Path]:
        generator = torch.Generator(device=x.device).manual_seed(0)
        paths = [pictures.image_grid(self.module.sample(64, generator), out / "samples.png",
                                     "DCGAN: generator samples", rows=8)]
        z = torch.randn(10, self.module.latent, generator=generator, device=x.device)
        line = torch.cat([pictures.interpolate(z[2 * i], z[2 * i + 1], 10) for i in range(5)])
        self.module.eval()
        images = (self.module.generator(line) + 1) / 2
        self.module.train()
        paths.append(pictures.image_grid(images, out / "interpolation.png", "DCGAN: the line between two z", rows=5))
        return paths


class CharRNNTask(Task):
    """Next-character cross-entropy over windows of `args.seq_len` characters; `shape` is ("text", vocab)."""

    def build(self) -> nn.Module:
        self.args.pop("seq_len", None)  # the trainer cuts the windows
        return CharRNN(vocab_size=self.shape[1], **self.args)

    def step(self, batch: torch.Tensor, labels: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        logits, _ = self.module(batch[:, :-1])  # (B, L, vocab)
        loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), batch[:, 1:].reshape(-1))
        self.descend(loss)
        return {"loss": loss.detach()}

    @torch.no_grad()
    def evaluate(self, x: torch.Tensor, batch_size: int, labels: torch.Tensor | None = None) -> dict[str, float]:
        self.module.eval()
        total = 0.0
        for batch in _batches(x, batch_size):
            logits, _ = self.module(batch[:, :-1])
            total += F.cross_entropy(logits.reshape(-1, logits.shape[-1]), batch[:, 1:].reshape(-1),
                                     reduction="sum").item()
        self.module.train()
        nats = total / (x.shape[0] * (x.shape[1] - 1))
        return {"loss": nats, "bits_per_char": nats / math.log(2)}


class DBNClassifierTask(Task):
    """A DBN used as a classifier (Hinton, Osindero & Teh 2006): greedy RBM pretraining of the hidden layers,
    then a softmax layer on top and supervised fine-tuning of the whole network by backprop."""

    def build(self) -> nn.Module:
        c, h, w = self.shape
        if self.num_classes < 2:
            raise BadInputError("dbn_classifier needs a labelled image dataset (data.name with classes)")
        self.dbn = DBN(self.args.get("sizes", (c * h * w, 500, 500)), visible=self.args.get("visible", "bernoulli"),
                       code="bernoulli")
        return DBNClassifier(self.dbn, self.num_classes)

    def prepare(self, x: torch.Tensor, log: Log) -> None:
        if _pretrain(self, x, log):
            self.module.load_from(self.dbn)
            self.reset_optimizers()

    def step(self, batch: torch.Tensor, labels: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        logits = self.module(batch)
        loss = F.cross_entropy(logits, labels)
        self.descend(loss)
        return {"loss": loss.detach(), "accuracy": (logits.argmax(1) == labels).float().mean()}

    @torch.no_grad()
    def evaluate(self, x: torch.Tensor, batch_size: int, labels: torch.Tensor | None = None) -> dict[str, float]:
        self.module.eval()
        loss = correct = 0.0
        for start in range(0, len(x), batch_size):
            logits = self.module(x[start:start + batch_size])
            target = labels[start:start + batch_size]
            loss += F.cross_entropy(logits, target, reduction="sum").item()
            correct += (logits.argmax(1) == target).sum().item()
        self.module.train()
        return {"loss": loss / len(x), "accuracy": correct / len(x)}


TASKS.add("autoencoder", AutoencoderTask)
TASKS.add("conv_autoencoder", ConvAutoencoderTask)
TASKS.add("dbn_autoencoder", DBNAutoencoderTask)
TASKS.add("dbn_classifier", DBNClassifierTask)
TASKS.add("vae", VAETask)
TASKS.add("gan", GANTask)
TASKS.add("char_rnn", CharRNNTask)


def create_task(cfg: ExperimentConfig, shape: tuple[int, ...], steps_per_epoch: int, num_classes: int = 0) -> Task:
    kind = cfg.generative.kind
    if kind not in TASKS:
        raise BadInputError(f"generative.kind {kind!r} has no trainer yet (available: {', '.join(TASKS.names())})")
    try:
        return TASKS.get(kind)(cfg, shape, steps_per_epoch, num_classes)
    except TypeError as exc:  # a wrong key in generative.args
        raise BadInputError(f"generative.args for {kind!r}: {exc}; see docs/generative.md for each kind's arguments")
