"""DDP on CPU with gloo: one step on two processes equals one step on the union batch."""
import os
import socket

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from shendu.config import ExperimentConfig
from shendu.models import create_model
from shendu.train._distributed import DistInfo, shard
from shendu.train._launch import torchrun_command
from shendu.train._loop import Loop
from shendu.train._optim import build_optimizer
from shendu.train._speed import resolve_precision

CONFIG = ExperimentConfig.from_dict({"model": {"name": "lenet5"}, "optim": {"name": "sgd", "lr": 0.5, "momentum": 0.0}})
BATCH = 16


def _data() -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(1)
    return torch.randn(BATCH, 1, 8, 8, generator=generator), torch.randint(0, 10, (BATCH,), generator=generator)


def _loop(info: DistInfo) -> Loop:
    torch.manual_seed(0)
    module = create_model("lenet5", num_classes=10, in_channels=1, input_size=8)
    model = torch.nn.parallel.DistributedDataParallel(module) if info.enabled else module
    return Loop(CONFIG, model, module, build_optimizer(module, CONFIG.optim), None, resolve_precision("fp32",
                torch.device("cpu")), None, 10, info)


def _worker(rank: int, port: int, out: str) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    dist.init_process_group("gloo", rank=rank, world_size=2)
    info = DistInfo(rank, 2, rank)
    loop = _loop(info)
    x, y = _data()
    index = shard(torch.arange(BATCH), info)
    loop.step(x[index], y[index], check=True)
    if rank == 0:
        torch.save(loop.module.state_dict(), out)
    dist.destroy_process_group()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_two_process_step_equals_union_batch_step(tmp_path):
    out = tmp_path / "ddp.pt"
    mp.start_processes(_worker, args=(_free_port(), str(out)), nprocs=2, join=True, start_method="spawn")
    single = _loop(DistInfo())
    x, y = _data()
    single.step(x, y, check=True)
    ddp_state = torch.load(out, weights_only=True)
    for name, value in single.module.state_dict().items():
        # gloo sums in float32 in a different order than one big batch: 1e-6 relative is the honest bound
        torch.testing.assert_close(ddp_state[name], value, atol=1e-6, rtol=1e-5, msg=name)


def test_shards_are_disjoint_and_cover_the_batch():
    index = torch.arange(10)
    parts = [shard(index, DistInfo(rank, 3, rank)) for rank in range(3)]
    assert sorted(torch.cat(parts).tolist()) == list(range(10))
    assert all(len(set(a.tolist()) & set(b.tolist())) == 0 for a in parts for b in parts if a is not b)


def test_torchrun_command_single_and_multi_node():
    single = torchrun_command(["train", "c.yaml"], 2)
    assert single[1:] == ["-m", "torch.distributed.run", "--nproc_per_node", "2", "--standalone",
                          "-m", "shendu.cli", "train", "c.yaml"]
    multi = torchrun_command(["train", "c.yaml"], 4, nnodes=2, rdzv_endpoint="head:29400", node_rank=1)
    assert "--rdzv_endpoint" in multi and "head:29400" in multi and "--standalone" not in multi
    from shendu.errors import BadInputError

    with pytest.raises(BadInputError, match="--rdzv-endpoint"):
        torchrun_command(["train"], 2, nnodes=2)


@pytest.mark.slow
def test_nproc_2_matches_nproc_1(tmp_path, shendu_home):
    """`shendu train --nproc 2` through torchrun: same accuracy as one process at equal global batch."""
    import json
    import subprocess
    import sys

    from tests.conftest import REPO

    def run(*extra: str) -> dict:
        proc = subprocess.run([sys.executable, "-m", "shendu.cli", "train", "examples/digits-lenet.yaml",
                               "--set", "train.epochs=10", "--json", *extra], cwd=REPO, capture_output=True,
                              text=True, timeout=600, env={**os.environ, "SHENDU_HOME": str(shendu_home)})
        assert proc.returncode == 0, proc.stderr
        return json.loads(proc.stdout.strip().splitlines()[-1])

    one, two = run(), run("--nproc", "2")
    assert two["status"] == "completed" and two["package"]
    assert abs(one["metrics"]["test_accuracy"] - two["metrics"]["test_accuracy"]) <= 0.012  # ≤ 2 of 180 images
