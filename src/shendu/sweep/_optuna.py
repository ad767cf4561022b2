"""Hyperparameter sweeps on Optuna, with the run database as the study's storage.

The study lives in the same database as the runs, by default the SQLite file under SHENDU_HOME. On
PostgreSQL, several machines join one study by giving the same `--study NAME` and URL. Each trial
is a shendu run linked to it (`runs.sweep` = study name, `runs.trial` = trial number), and its run
id is kept in the trial's user attributes. `W` workers are spawned processes, each running
`study.optimize` on the shared storage.

Pruning: after each epoch the trial reports the objective metric to Optuna (the `on_epoch` hook of
`HookedTrainer`), and when the pruner (MedianPruner) says so, the run stops and the trial is
PRUNED. With `cv=K` the report comes after each fold instead: the running mean over the folds so far.
"""
from __future__ import annotations

import multiprocessing
import os
import warnings
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

from shendu.config import ExperimentConfig
from shendu.errors import BadInputError, ShenduError, TrainingDivergedError
from shendu.sweep._cv import _as_config, run_cv
from shendu.sweep._space import SearchSpace
from shendu.sweep._trainer import HookedTrainer, RunLink, RunStopped
from shendu.track import RunStore, open_store
from shendu.track._engine import BUSY_TIMEOUT_S, _configure_sqlite, parse_url, shown
from shendu.track._store import new_run_id

if TYPE_CHECKING:
    import optuna

DIRECTIONS = ("maximize", "minimize")
HEARTBEAT_S = 60  # a trial whose worker is silent for 2 × this is failed by the next worker (killed machine)
_ATTRS = ("metric", "cv", "space")  # stored on the study; a joining machine must agree


@dataclass(frozen=True)
class TrialRow:
    """One trial of a study: state is COMPLETE, PRUNED, FAIL, RUNNING or WAITING; run_id its shendu run."""

    number: int
    state: str
    value: float | None
    params: dict[str, Any]
    run_id: str | None


@dataclass
class SweepResult:
    """A study's trials and its best one; `to_json()` is the CLI's `--json` line."""

    study: str
    storage: str
    metric: str
    direction: str
    trials: list[TrialRow]
    best: TrialRow | None

    def to_json(self) -> dict[str, Any]:
        best = self.best and {"value": self.best.value, "params": self.best.params, "run_id": self.best.run_id}
        return {"study": self.study, "best": best, "trials": len(self.trials)}


@dataclass(frozen=True)
class _Job:
    """What a worker needs, as plain data (it is sent to spawned processes)."""

    config: dict[str, Any]
    space: SearchSpace
    study: str
    storage: str
    metric: str
    cv: int | None
    prune: Any  # True, False or an Optuna pruner
    trials: int
    progress: bool
    threads: int | None = None


def sweep(config: ExperimentConfig | dict | str | Path, space: SearchSpace | dict | str | Path, *, trials: int,
          workers: int = 1, study: str | None = None, storage: str | None = None, metric: str = "val_accuracy",
          direction: str = "maximize", cv: int | None = None, prune: bool | "optuna.pruners.BasePruner" = True,
          progress: bool = True) -> SweepResult:
    """Run `trials` more trials of a study over `space`, in `workers` processes.

    Args:
        config: the base experiment; each trial overrides the space's keys.
        space: a `SearchSpace`, a mapping of dotted key → distribution, or a YAML path.
        trials: trials to add, shared among the workers (the study may hold earlier ones).
        workers: processes running trials at once on this machine.
        study: study name; an existing study of that name is joined. Default: a new "sweep-<time>-<hex>".
        storage: Optuna storage URL; default the run database (the config's track.db, SHENDU_DB, SHENDU_HOME).
        metric: the objective, a per-epoch metric such as "val_accuracy" or "val_loss".
        direction: "maximize" or "minimize".
        cv: run each trial as a stratified `cv`-fold cross-validation; the objective is the mean over folds.
        prune: stop unpromising trials early: True = Optuna's MedianPruner(), or a pruner of your own
            (it is pickled to the workers); False = every trial trains to the end.
        progress: print one line per finished trial on stderr.

    Raises:
        BadInputError: a bad space, config, metric or count, or a study that disagrees (another metric,
            direction, space or k).
    """
    config = _as_config(config)
    space = _as_space(space)
    space.check(config)
    _check_args(config, trials, workers, metric, direction, cv)
    store = open_store(config.track.db)  # migrates the run database before Optuna adds its tables
    url = storage or store.url
    name = study or f"sweep-{new_run_id()}"
    _prepare_study(name, url, direction, {"metric": metric, "cv": cv, "space": space.to_dict()})
    job = _Job(config.to_dict(), space, name, url, metric, cv, prune, trials, progress)
    _run_workers(job, workers)
    return load_sweep(name, url)


def load_sweep(study: str, storage: str | None = None) -> SweepResult:
    """The trials of an existing study (default storage: the run database)."""
    import optuna

    url = storage or open_store().url
    try:
        loaded = optuna.load_study(study_name=study, storage=open_storage(url))
    except KeyError:
        raise BadInputError(f"no study {study!r} in {shown(parse_url(url))}") from None
    rows = [TrialRow(t.number, t.state.name, t.value if t.values else None, dict(t.params), t.user_attrs.get("run_id"))
            for t in loaded.get_trials(deepcopy=False)]
    complete = [row for row in rows if row.state == "COMPLETE"]
    maximize = loaded.direction.name == "MAXIMIZE"
    best = (max if maximize else min)(complete, key=lambda row: row.value) if complete else None
    return SweepResult(study, shown(parse_url(url)), loaded.user_attrs.get("metric", "?"),
                       loaded.direction.name.lower(), rows, best)


def open_storage(url: str, *, heartbeat: bool = False) -> "optuna.storages.RDBStorage":
    """Optuna's storage on `url`, SQLite connections set up like the run store's (WAL, busy timeout,
    write transactions opened with BEGIN IMMEDIATE, so concurrent workers wait instead of failing).

    Args:
        url: a SQLAlchemy URL (usually the run database's).
        heartbeat: trials send a heartbeat, and the RUNNING trials of a dead worker are failed by the
            next worker (for `study.optimize` only; Optuna warns about it under ask/tell).
    """
    from optuna.exceptions import ExperimentalWarning
    from optuna.storages import RDBStorage

    parsed = parse_url(url)
    sqlite = parsed.get_backend_name() == "sqlite"
    if sqlite and parsed.database in (None, "", ":memory:"):
        raise BadInputError(f"study storage {url!r} is an in-memory database, which worker processes cannot "
                            "share; give a file (sqlite:////abs/path.db) or a PostgreSQL URL")
    if sqlite:
        Path(parsed.database).expanduser().parent.mkdir(parents=True, exist_ok=True)
    kwargs = {"connect_args": {"timeout": BUSY_TIMEOUT_S}} if sqlite else {"pool_pre_ping": True}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ExperimentalWarning)  # heartbeat_interval is "experimental" in Optuna
        storage = RDBStorage(url, engine_kwargs=kwargs, heartbeat_interval=HEARTBEAT_S if heartbeat else None)
    if sqlite:
        _configure_sqlite(storage.engine, "BEGIN IMMEDIATE")
        storage.engine.dispose()  # connections made before the listeners existed are not reused
    return storage


def pruning_hook(trial: "optuna.Trial", metric: str,
                 unit: str = "epoch") -> Callable[[int, dict[str, float]], str | None]:
    """An `on_epoch` hook: reports `metric` to the trial at each step (an epoch, or a fold with `unit="fold"`)
    and returns the reason to stop once the study's pruner says so."""

    def on_step(step: int, metrics: dict[str, float]) -> str | None:
        value = metrics.get(metric)
        if value is None:
            return None
        trial.report(value, step)
        if not trial.should_prune():
            return None
        return (f"pruned after {unit} {step} by {type(trial.study.pruner).__name__}: {metric} {value:.4g} is "
                f"worse than earlier trials after that {unit}")

    return on_step


# -- checks ----------------------------------------------------------------------------------------
def _as_space(space: SearchSpace | dict | str | Path) -> SearchSpace:
    if isinstance(space, SearchSpace):
        return space
    return SearchSpace.from_dict(space) if isinstance(space, dict) else SearchSpace.load(space)


def _check_args(config: ExperimentConfig, trials: int, workers: int, metric: str, direction: str,
                cv: int | None) -> None:
    for label, value in (("trials", trials), ("workers", workers)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise BadInputError(f"{label} must be a positive integer, received {value!r}")
    if direction not in DIRECTIONS:
        raise BadInputError(f"direction must be 'maximize' or 'minimize', received {direction!r}")
    split = metric.partition("_")[0] if isinstance(metric, str) else None
    if split not in ("train", "val"):
        raise BadInputError(f"metric {metric!r}: expected a per-epoch metric named train_<name> or val_<name> "
                            "(e.g. val_accuracy, val_loss); test_* metrics would tune on the test split")
    if split == "val" and config.data.val_fraction == 0 and not cv:
        raise BadInputError(f"metric {metric!r} needs a validation split but data.val_fraction is 0; "
                            "set data.val_fraction (e.g. 0.1), use --cv K, or pick a train_* metric")
    if cv is not None and (isinstance(cv, bool) or not isinstance(cv, int) or cv < 2):
        raise BadInputError(f"cv must be a number of folds >= 2, received {cv!r}")


def _prepare_study(name: str, url: str, direction: str, attrs: dict[str, Any]) -> None:
    """Create the study, or join it after checking that it optimizes the same thing the same way."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(study_name=name, storage=open_storage(url), direction=direction,
                                load_if_exists=True)
    if study.direction.name.lower() != direction:
        raise BadInputError(f"study {name!r} already exists and {study.direction.name.lower()}s; "
                            f"pass --direction {study.direction.name.lower()} or choose another --study name")
    if not study.user_attrs:
        for key in _ATTRS:
            study.set_user_attr(key, attrs[key])
        return
    for key in _ATTRS:
        if study.user_attrs.get(key) != attrs[key]:
            raise BadInputError(f"study {name!r} already exists with {key} {study.user_attrs.get(key)!r}, not "
                                f"{attrs[key]!r}; trials of one study must be comparable — use the study's "
                                f"{key} or another --study name")


# -- workers ---------------------------------------------------------------------------------------
def _run_workers(job: _Job, workers: int) -> None:
    """Share the trials out; one worker runs here, several are spawned processes."""
    shares = [n for n in (job.trials // workers + (i < job.trials % workers) for i in range(workers)) if n]
    if len(shares) == 1:
        _work(job)
        return
    threads = max(1, (os.cpu_count() or 1) // len(shares))  # W trainers must not fight over the cores
    context = multiprocessing.get_context("spawn")  # not fork: torch and DB connections do not survive fork
    with ProcessPoolExecutor(len(shares), mp_context=context) as pool:
        futures = [pool.submit(_worker, replace(job, trials=n, threads=threads)) for n in shares]
        errors = [error for error in (f.result() for f in futures) if error]
    if errors:
        message = "\n".join(dict.fromkeys(e["error"] for e in errors))
        raise (BadInputError if all(e["exit_code"] == 2 for e in errors) else ShenduError)(message)


def _worker(job: _Job) -> dict[str, Any] | None:
    """A spawned worker. shendu errors come back as data: some cannot be pickled as exceptions."""
    try:
        if job.threads:
            import torch

            torch.set_num_threads(job.threads)
        _work(job)
    except ShenduError as exc:
        return {"error": str(exc), "exit_code": exc.exit_code}
    return None


def _work(job: _Job) -> None:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    config = ExperimentConfig.from_dict(job.config)
    store = open_store(config.track.db)
    pruner = job.prune if isinstance(job.prune, optuna.pruners.BasePruner) else (
        optuna.pruners.MedianPruner() if job.prune else optuna.pruners.NopPruner())
    study = optuna.load_study(study_name=job.study, storage=open_storage(job.storage, heartbeat=True),
                              pruner=pruner)
    callbacks = [_announce] if job.progress else None
    # A diverged trial (NaN loss) fails that trial only; anything else stops the sweep.
    study.optimize(_objective(job, config, store), n_trials=job.trials, catch=(TrainingDivergedError,),
                   callbacks=callbacks)


def _objective(job: _Job, config: ExperimentConfig, store: RunStore) -> Callable[["optuna.Trial"], float]:
    import optuna

    def objective(trial: optuna.Trial) -> float:
        values = job.space.suggest(trial)
        if config.track.name is None:
            values["track.name"] = f"{job.study}/{trial.number}"
        trial_config = job.space.apply(config, values)
        link = RunLink(sweep=job.study, trial=trial.number)
        if job.cv:
            return _cv_trial(trial, job, trial_config, store, link)
        trainer = HookedTrainer(trial_config, store, progress=False, on_epoch=pruning_hook(trial, job.metric),
                                link=link)
        try:
            result = trainer.fit()
        except RunStopped as exc:
            raise optuna.TrialPruned(str(exc)) from None
        finally:
            if trainer.last_run_id:
                trial.set_user_attr("run_id", trainer.last_run_id)
        return _metric(result.metrics, job.metric)

    return objective


def _cv_trial(trial: "optuna.Trial", job: _Job, config: ExperimentConfig, store: RunStore, link: RunLink) -> float:
    import optuna

    report = pruning_hook(trial, f"{job.metric}_mean", unit="fold")

    def on_fold(fold: int, partial: Any) -> str | None:
        trial.set_user_attr("run_id", partial.run_id)  # the group run
        return report(fold, partial.metrics)

    try:
        result = run_cv(config, job.cv, store=store, progress=False, link=link, on_fold=on_fold)
    except RunStopped as exc:
        raise optuna.TrialPruned(str(exc)) from None
    return _metric(result.metrics, f"{job.metric}_mean")


def _metric(metrics: dict[str, float], name: str) -> float:
    if name not in metrics:
        raise BadInputError(f"the objective metric {name!r} was not logged by the run (logged: "
                            f"{', '.join(sorted(metrics))}); pick one of those with --metric")
    return metrics[name]


def _announce(study: "optuna.Study", trial: "optuna.trial.FrozenTrial") -> None:
    from rich.console import Console

    value = f"{trial.value:.4f}" if trial.values else "-"
    params = ", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in trial.params.items())
    Console(stderr=True, highlight=False, soft_wrap=True).print(
        f"trial {trial.number} {trial.state.name.lower()}: {study.user_attrs.get('metric')} {value}  {params}  "
        f"run {trial.user_attrs.get('run_id', '-')}")
