"""TensorBoard event files for every run, written by a callback the way a user's plugin would write them.

`SHENDU_HOME/tb/<run_id>/` receives, through `torch.utils.tensorboard.SummaryWriter`:

- every epoch's metrics as scalars (tag = metric name, step = epoch), the test metrics at the last epoch;
- a histogram of every parameter each epoch (`track.tensorboard_histograms`);
- a grid of the first `track.tensorboard_images` training images, before epoch 1;
- the hyperparameters (the config's dotted scalar keys) with the run's metric names, for the HPARAMS tab.

So `tensorboard --logdir $SHENDU_HOME/tb` shows every run. A resumed run appends a new event file to the
same directory; see docs/tensorboard.md for how TensorBoard reads it.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from shendu import _settings
from shendu.train._callbacks import CALLBACKS, Callback

_EVENTS = "events.out.tfevents.*"
IMAGES_TAG = "train_samples"
PARAMS_PREFIX = "params/"
# torch's default ("tensorflow": ~1,500 exponential buckets) costs ~25 ms per LeNet-5 epoch, 64 equal buckets
# ~2 ms; TensorBoard's own summary ops use 30 buckets.
HISTOGRAM_BINS = 64
# Not hyperparameters, and a database URL may carry a password: event files get shared more than the database.
NOT_HPARAMS = ("track.db",)


class TensorBoardCallback(Callback):
    """Write the run's TensorBoard event files (on by default: `track.tensorboard`).

    Args:
        root: the folder holding one subfolder per run; default `SHENDU_HOME/tb`.
    """

    def __init__(self, root: str | Path | None = None) -> None:
        self.root = Path(root) if root is not None else None
        self.log_dir: Path | None = None
        self._writer: Any = None
        self._last_epoch: int | None = None

    def on_run_start(self, trainer: Any, run_id: str, data: Any) -> None:
        self.log_dir = (self.root or _settings.subdir("tb")) / run_id
        self._writer, self._last_epoch = None, None
        # Files already there mean a resumed run: its writer opens at the first new epoch, with a purge step,
        # and its images and artifact are already recorded.
        if self.log_dir.is_dir() and any(self.log_dir.glob(_EVENTS)):
            return
        self._open(purge_step=None)
        if trainer.store is not None:
            trainer.store.add_artifact(run_id, "tensorboard", self.log_dir)
        self._write_images(data.train, trainer.config.track.tensorboard_images)
        self._writer.flush()

    def on_epoch_end(self, trainer: Any, run_id: str, epoch: int, metrics: dict[str, float], loop: Any) -> None:
        if self._writer is None:
            self._open(purge_step=epoch)
        for name, value in metrics.items():
            self._writer.add_scalar(name, float(value), epoch)
        if trainer.config.track.tensorboard_histograms:
            for name, param in loop.module.named_parameters():
                if param.numel():
                    values = param.detach().float().cpu()
                    self._writer.add_histogram(PARAMS_PREFIX + name, values, epoch, bins=HISTOGRAM_BINS)
        self._last_epoch = epoch
        self._writer.flush()  # a process killed later still leaves this epoch on disk, like its checkpoint

    def on_run_end(self, trainer: Any, run_id: str, metrics: dict[str, float], error: BaseException | None) -> None:
        if self.log_dir is None:  # the run stopped before on_run_start
            return
        if self._writer is None and error is None:
            self._open(purge_step=None)  # resumed after its last epoch: only the test metrics are left
        if self._writer is None:
            return
        try:
            if error is None:
                step = self._last_epoch if self._last_epoch is not None else trainer.config.train.epochs
                for name, value in metrics.items():
                    if name.startswith("test_"):  # the store logs them at the last epoch too
                        self._writer.add_scalar(name, float(value), step)
                self._write_hparams(trainer.config.to_dict(), sorted(metrics))
        finally:
            self._writer.close()
            self._writer = None

    # -- pieces ------------------------------------------------------------------------------------
    def _open(self, purge_step: int | None) -> None:
        # Imported here: only runs that write pay for importing tensorboard.
        from torch.utils.tensorboard import SummaryWriter

        # purge_step makes readers drop what an earlier attempt wrote at steps >= the first new epoch.
        self._writer = SummaryWriter(log_dir=str(self.log_dir), purge_step=purge_step)

    def _write_images(self, train: Any, count: int) -> None:
        x = train.x
        if count <= 0 or train.info.modality != "image" or x.ndim != 4 or x.shape[1] not in (1, 3):
            return
        batch = x[:count].float() / 255.0  # (N, C, H, W) uint8 → [0, 1], what add_images expects of floats
        self._writer.add_images(IMAGES_TAG, batch, 0, dataformats="NCHW")

    def _write_hparams(self, config: dict[str, Any], metric_names: list[str]) -> None:
        from torch.utils.tensorboard.summary import hparams

        # SummaryWriter.add_hparams would open a timestamped subfolder (a second "run"); writing the three
        # summaries here keeps hparams and scalars in one run, so the HPARAMS tab reads the metrics from it.
        values = {key: value for key, value in flat_hparams(config).items() if key not in NOT_HPARAMS}
        # hparams() takes only the metric names: the tab shows each metric's last scalar in this run.
        summaries = hparams(values, {name: 0.0 for name in metric_names})
        for summary in summaries:
            self._writer.file_writer.add_summary(summary)


def flat_hparams(config: dict[str, Any], prefix: str = "") -> dict[str, bool | int | float | str]:
    """The config's scalar leaves under dotted keys (`optim.lr`); lists and nulls have no hparams type."""
    flat: dict[str, bool | int | float | str] = {}
    for key, value in config.items():
        if isinstance(value, dict):
            flat.update(flat_hparams(value, f"{prefix}{key}."))
        elif isinstance(value, (bool, int, float, str)):
            flat[f"{prefix}{key}"] = value
    return flat


CALLBACKS.add("tensorboard", TensorBoardCallback)
