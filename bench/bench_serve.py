"""Serving: `shendu serve` (micro-batching, torch and onnxruntime backends) vs a naive FastAPI endpoint.

Run: `.venv/bin/python bench/bench_serve.py [--quick] [--repeats 3] [--models lenet5,resnet20]`

Models (random weights — a forward costs the same trained or not): LeNet-5 on 1×28×28 and ResNet-20 on
3×32×32, saved as shendu packages in a throw-away SHENDU_HOME.

Contenders, each a uvicorn server in its own process on loopback (access log off, one worker, the same JSON
parsing and response building — only the way forwards are run differs):
  shendu torch          `create_app(backend="torch", max_batch=64, max_wait_ms=5)`: requests queue, one worker
                        thread runs one eager forward per micro-batch;
  shendu onnxruntime    the same app with `backend="onnxruntime"` (the graph exported once, beforehand);
  naive eager torch     a FastAPI `def` endpoint defined below: one request, one forward (`torch.no_grad`),
                        run by FastAPI's thread pool — what a first REST wrapper around a model looks like;
  naive, torch default  the same endpoint with PyTorch's default thread count (one per core).
The first three use the intra-op thread count `shendu serve` picks (`default_threads()`: cores − 1, at least 1;
`--server-threads` overrides), so the ratios between them measure batching, not thread settings.

Load: a separate process (no torch in it) with C threads, each a keep-alive `http.client` connection sending
one 1-image request (`{"inputs": [[...]]}`, uint8 pixels as JSON integers) after the other (closed loop);
2 warm-up requests per thread are not timed. Per run: p50 / p99 latency over all requests and requests/s =
requests / wall time, at concurrency 1 and 32; and the server process's CPU time (user + system, all threads,
from /proc) per request — the figure that other jobs on a shared machine disturb least. Repeats are interleaved
(the contender order rotates every repeat) and reported as mean ± std; ratios are paired per repeat. The machine
line above the table and the load average per run say how busy the (shared, 2-core) machine was: the load
generator and the server share those cores too.

Target (issue 7): ResNet-20 micro-batching requests/s at concurrency 32 ≥ 2× the naive endpoint's (the issue's
naive endpoint: PyTorch defaults); the thread-matched naive endpoint is printed beside it as a stricter control.
"""
from __future__ import annotations

import argparse
import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

import _common as c

HERE = Path(__file__).resolve()
CONTENDERS = ("shendu torch", "shendu onnxruntime", "naive eager torch", "naive, torch default")
KINDS = {"shendu torch": "torch", "shendu onnxruntime": "onnxruntime", "naive eager torch": "naive",
         "naive, torch default": "naive"}  # the naive endpoint: PyTorch defaults
MODELS = {"lenet5": (1, 28), "resnet20": (3, 32)}  # name → (channels, size)
CONCURRENCY = (1, 32)
MAX_BATCH, MAX_WAIT_MS = 64, 5.0


# -- servers (run in their own process: `bench_serve.py --server KIND --package P --port N`) ------------
def naive_app(package: str) -> Any:
    """One request → one forward: a plain FastAPI endpoint over `load_package`, no batching."""
    import torch
    from fastapi import FastAPI, Request
    from fastapi.responses import JSONResponse

    from shendu.hub import load_package
    from shendu.serve._app import pixels_from_json, prediction_rows

    predictor = load_package(package)
    app = FastAPI()

    @app.get("/health")
    def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.post("/predict")
    def predict(body: dict) -> JSONResponse:  # sync: FastAPI runs it in its thread pool
        x = torch.from_numpy(pixels_from_json(body["inputs"], predictor.input_shape, 256))
        with torch.no_grad():
            probs = torch.softmax(predictor.model(predictor.preprocessing(x)), dim=1).numpy()
        rows = prediction_rows(predictor.classes, probs, 5)
        return JSONResponse({"model": "naive", "backend": "torch", "predictions": rows})

    return app


def run_server(kind: str, package: str, port: int, threads: int) -> None:
    """`threads` 0: leave PyTorch's default (one per core)."""
    import torch
    import uvicorn

    if kind == "naive":
        if threads:
            torch.set_num_threads(threads)
        app = naive_app(package)
    else:
        from shendu.serve import create_app

        app = create_app({"model": package}, backend=kind, max_batch=MAX_BATCH, max_wait_ms=MAX_WAIT_MS,
                         threads=threads)
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)


# -- load generator (its own process: `bench_serve.py --load …`; imports neither torch nor shendu) ------
def make_bodies(shape: tuple[int, ...], count: int = 16, seed: int = 0) -> list[bytes]:
    import numpy as np

    rng = np.random.default_rng(seed)
    return [json.dumps({"inputs": [rng.integers(0, 256, shape).tolist()]}).encode() for _ in range(count)]


def run_load(port: int, shape: tuple[int, ...], concurrency: int, requests: int, warmup: int = 2) -> dict[str, Any]:
    """Closed-loop load: `concurrency` keep-alive connections, `requests` timed requests in all."""
    import numpy as np

    bodies = make_bodies(shape)
    per_thread = [requests // concurrency + (i < requests % concurrency) for i in range(concurrency)]
    latencies: list[list[float]] = [[] for _ in range(concurrency)]
    errors: list[str] = []
    barrier = threading.Barrier(concurrency + 1)

    def client(k: int) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        headers = {"Content-Type": "application/json"}

        def one(i: int) -> float:
            start = time.perf_counter()
            conn.request("POST", "/predict", body=bodies[(k * 7 + i) % len(bodies)], headers=headers)
            response = conn.getresponse()
            data = response.read()
            if response.status != 200:
                errors.append(f"{response.status} {data[:200]!r}")
            return time.perf_counter() - start

        try:
            for i in range(warmup):
                one(i)
        finally:
            barrier.wait()
        for i in range(per_thread[k]):
            latencies[k].append(one(i))
        conn.close()

    threads = [threading.Thread(target=client, args=(k,)) for k in range(concurrency)]
    for t in threads:
        t.start()
    barrier.wait()
    start = time.perf_counter()
    for t in threads:
        t.join()
    wall = time.perf_counter() - start
    lat = np.concatenate([np.asarray(x) for x in latencies]) * 1000
    return {"requests": int(lat.size), "wall_s": wall, "rps": lat.size / wall, "p50_ms": float(np.percentile(lat, 50)),
            "p99_ms": float(np.percentile(lat, 99)), "errors": len(errors), "first_error": errors[0] if errors else ""}


# -- orchestration ------------------------------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get_json(port: int, path: str) -> Any:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as response:
        return json.loads(response.read())


class ServerProcess:
    def __init__(self, kind: str, package: Path, threads: int, log: Path) -> None:
        self.port = free_port()
        self.log = log
        with open(log, "wb") as out:
            self.proc = subprocess.Popen([sys.executable, str(HERE), "--server", kind, "--package", str(package),
                                          "--port", str(self.port), "--server-threads", str(threads)],
                                         stdout=out, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{kind} server exited:\n{log.read_text(errors='replace')}")
            try:
                get_json(self.port, "/health")
                return
            except OSError:
                time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"{kind} server not ready after 180 s:\n{log.read_text(errors='replace')}")

    def cpu_seconds(self) -> float:
        """User + system CPU time of the server process so far (all its threads), from /proc (Linux)."""
        try:
            fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            return float("nan")
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def batching(self) -> dict[str, int] | None:
        stats = get_json(self.port, "/health").get("models")
        return stats["model"] if stats else None

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def load_process(port: int, shape: tuple[int, ...], concurrency: int, requests: int) -> dict[str, Any]:
    out = subprocess.run([sys.executable, str(HERE), "--load", "--port", str(port), "--shape",
                          ",".join(map(str, shape)), "--concurrency", str(concurrency), "--requests", str(requests)],
                         capture_output=True, text=True, timeout=1800, env={**os.environ, "OMP_NUM_THREADS": "1"})
    if out.returncode != 0:
        raise RuntimeError(f"load generator failed:\n{out.stderr}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def measure(kind: str, threads: int, package: Path, shape: tuple[int, ...], counts: dict[int, int],
            logdir: Path) -> dict[str, float]:
    """Start one server, run the loads at each concurrency, stop it; flat measurements for Samples."""
    server = ServerProcess(kind, package, threads, logdir / f"{kind}-{threads}-{package.name}.log")
    measured: dict[str, float] = {}
    try:
        for conc in CONCURRENCY:
            before, cpu = server.batching(), server.cpu_seconds()
            result = load_process(server.port, shape, conc, counts[conc])
            after, cpu = server.batching(), server.cpu_seconds() - cpu
            if result["errors"]:
                raise RuntimeError(f"{kind} at concurrency {conc}: {result['errors']} errors, e.g. "
                                   f"{result['first_error']}")
            measured.update({f"rps_{conc}": result["rps"], f"p50_{conc}": result["p50_ms"],
                             f"p99_{conc}": result["p99_ms"], f"cpu_{conc}": cpu * 1000 / result["requests"]})
            if before is not None and after is not None and after["forwards"] > before["forwards"]:
                forwards = after["forwards"] - before["forwards"]
                measured[f"batch_{conc}"] = (after["items"] - before["items"]) / forwards
    finally:
        server.stop()
    return measured


def make_packages(names: list[str], root: Path) -> dict[str, Path]:
    """Random-weight packages, and their ONNX graphs exported now (so no server start waits for an export)."""
    import torch

    from shendu.hub import load_package, save_package
    from shendu.models import create_model
    from shendu.serve import OnnxBackend
    from shendu.train._preprocess import Preprocessing

    packages = {}
    for name in names:
        channels, size = MODELS[name]
        torch.manual_seed(0)
        model = create_model(name, num_classes=10, in_channels=channels, input_size=size)
        path = save_package(root / name, model, model_name=name, model_args={}, num_classes=10,
                            in_channels=channels, input_size=size,
                            preprocessing=Preprocessing((0.5,) * channels, (0.25,) * channels, (channels, size, size)),
                            classes=[str(i) for i in range(10)], metrics={}, config={}, run_id=f"bench-{name}")
        OnnxBackend(load_package(path))
        packages[name] = path
    return packages


def report(name: str, results: dict[str, dict[str, c.Samples]], repeats: int) -> dict[str, Any]:
    header = ["contender"] + [f"c={k} {m}" for k in CONCURRENCY for m in ("p50 ms", "p99 ms", "req/s")] + \
             ["c=32 server CPU ms/req", "mean batch @32"]
    rows = []
    for contender, m in results.items():
        cells = [m[f"{key}_{k}"].fmt(1) for k in CONCURRENCY for key in ("p50", "p99", "rps")]
        batch = m.get("batch_32")
        rows.append([contender, *cells, m["cpu_32"].fmt(2), batch.fmt(1) if batch else "1 (none)"])
    channels, size = MODELS[name]
    c.print_table(f"{name} ({channels}×{size}×{size}), {repeats} repeats, mean ± std", header, rows)
    ratios = {}
    for baseline in CONTENDERS[2:]:
        for contender in CONTENDERS[:2]:
            for k in CONCURRENCY:
                ratio = c.paired_ratio(results[contender][f"rps_{k}"], results[baseline][f"rps_{k}"])
                ratios[f"{contender} / {baseline} req/s @{k}"] = ratio
                print(f"  {contender:<18s} / {baseline:<20s} requests/s at concurrency {k:>2}: {ratio.fmt(2)}×")
            cpu = c.paired_ratio(results[baseline]["cpu_32"], results[contender]["cpu_32"])
            ratios[f"{baseline} / {contender} server CPU per request @32"] = cpu
            print(f"  {baseline:<20s} / {contender:<18s} server CPU per request at 32: {cpu.fmt(2)}×")
    return {key: round(v.mean, 3) for key, v in ratios.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    c.add_common_args(parser, "fewer requests per run (quick check, not for the record)")
    parser.add_argument("--models", default="lenet5,resnet20")
    parser.add_argument("--server", choices=("torch", "onnxruntime", "naive"), help=argparse.SUPPRESS)
    parser.add_argument("--package", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--server-threads", type=int, default=None,
                        help="intra-op threads of the servers (default: what `shendu serve` picks, cores − 1)")
    parser.add_argument("--load", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--shape", help=argparse.SUPPRESS)
    parser.add_argument("--concurrency", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--requests", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.server:
        c.setup_env(os.environ.get("SHENDU_HOME"))
        return run_server(args.server, args.package, args.port, args.server_threads)
    if args.load:
        shape = tuple(int(v) for v in args.shape.split(","))
        print(json.dumps(run_load(args.port, shape, args.concurrency, args.requests)))
        return
    orchestrate(args)


def orchestrate(args: argparse.Namespace) -> None:
    info = c.start(args)
    names = [n.strip() for n in args.models.split(",") if n.strip()]
    unknown = [n for n in names if n not in MODELS]
    if unknown:
        raise SystemExit(f"unknown model(s) {unknown}; choose from {', '.join(MODELS)}")
    root = Path(info["home"])
    packages = make_packages(names, root / "bench-packages")
    counts = {1: 60, 32: 320} if args.quick else {1: 300, 32: 1600}
    from shendu.serve import default_threads

    threads = args.server_threads or default_threads()
    print(f"# requests per run: {counts[1]} at concurrency 1, {counts[32]} at 32 · micro-batching max_batch "
          f"{MAX_BATCH}, max_wait_ms {MAX_WAIT_MS:g} · server intra-op threads {threads} (naive, torch default: "
          f"{c.machine_info()['torch_threads']}) · server logs in {root}")
    summary: dict[str, Any] = {}
    for name in names:
        channels, size = MODELS[name]
        contenders = {label: (lambda kind=KINDS[label], t=0 if "default" in label else threads, name=name: measure(
            kind, t, packages[name], (channels, size, size), counts, root)) for label in CONTENDERS}
        print(f"\n## {name}")
        results = c.interleaved(contenders, info["repeats"])
        summary[name] = report(name, results, info["repeats"])
    if "resnet20" in summary:
        r = summary["resnet20"]
        target = r["shendu torch / naive, torch default req/s @32"]
        matched = r["shendu torch / naive eager torch req/s @32"]
        print(f"\nTarget (issue 7): resnet20 micro-batching ≥ 2× the naive endpoint (PyTorch defaults) at "
              f"concurrency 32 → {target:.2f}×, {'MET' if target >= 2 else 'NOT MET'}; against the same endpoint "
              f"given the server's thread count: {matched:.2f}× (load average now {c.load_average()})")
    print(json.dumps({"bench": "serve", "machine": {k: str(v) for k, v in info.items()}, "ratios": summary}))


if __name__ == "__main__":
    main()
