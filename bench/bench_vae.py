"""VAE on MNIST (Kingma & Welling 2014 architecture): test ELBO in nats, next to the paper's figure.

Architecture as in the paper's MNIST experiments: 784-500-(μ, log σ²)[20] encoder, 20-500-784 decoder, tanh
hidden units, Bernoulli likelihood, one z sample per image. Pixels are dynamically binarized for training and
the test set is binarized once with a fixed seed (`generative.args.binarize`), the usual setting for MNIST
likelihoods. Reference: K&W 2014 Fig. 2 plots the AEVB test lower bound for N_z = 20 near −100 nats after
~10⁸ training samples (≈1,700 epochs); the paper gives it as a curve, not a table, so compare orders of
magnitude and the direction of travel, not decimals.

    OMP_NUM_THREADS=1 .venv/bin/python bench/bench_vae.py --epochs 20 --seeds 0 1
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import REPO, setup_env  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    home = setup_env()
    import torch

    torch.set_num_threads(args.threads)
    from shendu.generative import GenerativeTrainer

    print(f"torch {torch.__version__}, threads {torch.get_num_threads()}, load {os.getloadavg()[0]:.2f}, "
          f"SHENDU_HOME {home}")
    rows = []
    for seed in args.seeds:
        t0 = time.perf_counter()
        config = str(REPO / "examples" / "mnist-vae.yaml")
        from shendu.config import ExperimentConfig

        cfg = ExperimentConfig.load(config, [f"train.epochs={args.epochs}", f"train.seed={seed}"])
        result = GenerativeTrainer(cfg, progress=False).fit()
        m = result.metrics
        rows.append({"seed": seed, "test_elbo": m["test_elbo"], "test_recon": m["test_recon"], "test_kl": m["test_kl"],
                     "seconds": time.perf_counter() - t0, "run_id": result.run_id, "package": result.package})
        print(f"seed {seed}: test ELBO {m['test_elbo']:.2f} nats (recon {m['test_recon']:.2f}, KL {m['test_kl']:.2f}), "
              f"{rows[-1]['seconds']:.0f} s", flush=True)
    elbos = [r["test_elbo"] for r in rows]
    spread = f" ± {statistics.stdev(elbos):.2f}" if len(elbos) > 1 else ""
    print(f"test ELBO {statistics.mean(elbos):.2f}{spread} nats (n={len(elbos)}, {args.epochs} epochs); "
          "K&W 2014 Fig. 2, N_z=20: about −100 after ~1,700 epochs")
    if args.out:
        args.out.write_text(json.dumps({"epochs": args.epochs, "runs": rows}, indent=1))


if __name__ == "__main__":
    main()
