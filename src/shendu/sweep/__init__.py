"""Hyperparameter sweeps (Optuna, stored in the run database) and stratified k-fold cross-validation.

    from shendu.sweep import SearchSpace, run_cv, sweep
    result = sweep("examples/digits-lenet.yaml", "examples/sweep-space.yaml", trials=20, workers=2)
    print(result.best.params, result.best.run_id)
    cv = run_cv("examples/digits-lenet.yaml", k=5)
    print(cv.mean_std("val_accuracy"))
"""
from shendu.sweep._cv import CVResult, run_cv
from shendu.sweep._optuna import SweepResult, TrialRow, load_sweep, open_storage, pruning_hook, sweep
from shendu.sweep._space import Param, SearchSpace
from shendu.sweep._trainer import FoldData, HookedTrainer, RunLink, RunStopped

__all__ = [
    "CVResult",
    "FoldData",
    "HookedTrainer",
    "Param",
    "RunLink",
    "RunStopped",
    "SearchSpace",
    "SweepResult",
    "TrialRow",
    "load_sweep",
    "open_storage",
    "pruning_hook",
    "run_cv",
    "sweep",
]
