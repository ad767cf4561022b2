"""Hinton & Salakhutdinov 2006, Fig. 2B: 30-D codes of MNIST, squared reconstruction error per test image.

One process, same pixels (MNIST test set scaled to [0, 1]), three contenders:
  PCA (scikit-learn, 30 components)                       — paper 13.87
  deep autoencoder 784-1000-500-250-30, RBM-pretrained     — paper 3.00
  the same network from a random init (no pretraining)     — paper: "fails" / stays near the mean image

Metric: Σ over 784 pixels of (x̂ - x)², mean over the 10,000 test images.
The paper pretrained each RBM for 50 epochs and fine-tuned with conjugate gradients for 200 epochs; we
fine-tune with Adam on the same cross-entropy, fewer epochs (set by flags; the figures state them).

    OMP_NUM_THREADS=1 .venv/bin/python bench/bench_deep_autoencoder.py --pretrain-epochs 10 --finetune-epochs 20
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import setup_env  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pretrain-epochs", type=int, default=10, help="CD-1 epochs per RBM (paper: 50)")
    parser.add_argument("--finetune-epochs", type=int, default=20, help="backprop epochs (paper: 200 of CG)")
    parser.add_argument("--lr", type=float, default=1e-3, help="Adam learning rate for fine-tuning")
    parser.add_argument("--batch-size", type=int, default=100)
    parser.add_argument("--train-limit", type=int, default=0, help="use only the first N training images (0 = all)")
    parser.add_argument("--skip", nargs="*", default=[], choices=["pca", "pretrained", "random"])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", type=Path, default=None, help="write the figures as JSON here")
    args = parser.parse_args()
    setup_env()
    import torch

    torch.set_num_threads(args.threads)
    from shendu.data import load_dataset
    from shendu.generative.deep import finetune, pretrain_dbn, test_sq_error
    from shendu.generative.autoencoder import Autoencoder, unroll

    train = load_dataset("mnist", "train", val_fraction=0.0, progress=False)
    test = load_dataset("mnist", "test", progress=False)
    x_train = train.x.float().div(255).flatten(1)  # (60000, 784) in [0, 1]
    x_test = test.x.float().div(255).flatten(1)    # (10000, 784)
    if args.train_limit:
        x_train = x_train[:args.train_limit]
    print(f"machine: {platform.processor() or platform.machine()}, torch {torch.__version__}, "
          f"threads {torch.get_num_threads()}, load {os.getloadavg()[0]:.2f}; train {len(x_train)}, test {len(x_test)}")
    results: dict[str, dict] = {}
    if "pca" not in args.skip:
        from sklearn.decomposition import PCA

        t0 = time.perf_counter()
        pca = PCA(n_components=30, random_state=args.seed).fit(x_train.numpy())
        recon = torch.from_numpy(pca.inverse_transform(pca.transform(x_test.numpy())))
        error = ((recon - x_test) ** 2).sum(1).mean().item()
        results["pca_30"] = {"test_recon_sq_error": error, "seconds": time.perf_counter() - t0, "paper": 13.87}
        print(f"PCA-30: {error:.3f} (paper 13.87)", flush=True)

    def log(name):
        return lambda epoch, row: print(f"  {name} epoch {epoch}: " + ", ".join(f"{k} {v:.3f}" for k, v in row.items()
                                                                              if k != "epoch"), flush=True)

    if "pretrained" not in args.skip:
        t0 = time.perf_counter()
        torch.manual_seed(args.seed)
        dbn = pretrain_dbn(x_train, (784, 1000, 500, 250, 30), args.pretrain_epochs, args.batch_size, args.seed,
                           on_epoch=lambda layer, epoch, row: log(f"rbm{layer + 1}")(epoch, row))
        t_pre = time.perf_counter() - t0
        model = unroll(dbn)
        before = test_sq_error(model, x_test)
        print(f"unrolled, before fine-tuning: {before:.3f}", flush=True)
        finetune(model, x_train, args.finetune_epochs, args.lr, args.batch_size, args.seed,
                 on_epoch=log("pretrained AE"), x_test=x_test)
        error = test_sq_error(model, x_test)
        results["deep_ae_pretrained"] = {"test_recon_sq_error": error, "before_finetune": before,
                                         "pretrain_seconds": t_pre, "seconds": time.perf_counter() - t0, "paper": 3.00}
        print(f"deep AE, pretrained: {error:.3f} (paper 3.00)", flush=True)
    if "random" not in args.skip:
        t0 = time.perf_counter()
        torch.manual_seed(args.seed)
        model = Autoencoder((784, 1000, 500, 250, 30))
        finetune(model, x_train, args.finetune_epochs, args.lr, args.batch_size, args.seed,
                 on_epoch=log("random-init AE"), x_test=x_test)
        error = test_sq_error(model, x_test)
        results["deep_ae_random_init"] = {"test_recon_sq_error": error, "seconds": time.perf_counter() - t0}
        print(f"deep AE, no pretraining: {error:.3f}", flush=True)
    record = {"args": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
              "results": results, "load_average": os.getloadavg()}
    print(json.dumps(record, indent=1))
    if args.out:
        args.out.write_text(json.dumps(record, indent=1))


if __name__ == "__main__":
    main()
