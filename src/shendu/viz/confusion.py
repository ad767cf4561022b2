"""Confusion matrix and per-class precision, recall and F1 (scikit-learn's definitions) of a package on a
dataset split."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from shendu.viz._plot import Picture, as_dataset, as_predictor, finish, new_figure, predict_probabilities, style

ANNOTATE_UP_TO = 20  # classes; beyond that the counts in the cells are unreadable


def confusion_data(package: Any, data: Any = None, *, split: str = "test", mirror: str | None = None) -> dict:
    """Counts of (true, predicted) pairs and per-class scores.

    Args:
        package: a `Predictor`, a package directory or a hub name.
        data: an `ArrayDataset`, a dataset name, or None for the package's own dataset.
        split: "train", "val" or "test" when `data` is a name.
        mirror: dataset mirror (folder or URL) when `data` is a name.

    Returns:
        classes, matrix (rows: true class, columns: predicted), count, accuracy, per_class
        (precision, recall, f1, support of each class) and the macro and weighted averages.
    """
    from sklearn.metrics import confusion_matrix, precision_recall_fscore_support

    predictor = as_predictor(package)
    dataset = as_dataset(predictor, data, split, mirror)
    y_true = dataset.y.numpy()
    y_pred = predict_probabilities(predictor, dataset.x).argmax(axis=1)
    labels = list(range(len(predictor.classes)))
    matrix = confusion_matrix(y_true, y_pred, labels=labels)
    precision, recall, f1, support = precision_recall_fscore_support(y_true, y_pred, labels=labels, zero_division=0)
    per_class = [{"class": name, "precision": float(p), "recall": float(r), "f1": float(f), "support": int(s)}
                 for name, p, r, f, s in zip(predictor.classes, precision, recall, f1, support)]
    averages = {}
    for average in ("macro", "weighted"):
        p, r, f, _ = precision_recall_fscore_support(y_true, y_pred, labels=labels, average=average, zero_division=0)
        averages[average] = {"precision": float(p), "recall": float(r), "f1": float(f)}
    return {"dataset": dataset.info.name, "split": dataset.split, "classes": list(predictor.classes),
            "matrix": matrix.tolist(), "count": int(matrix.sum()), "accuracy": float(np.trace(matrix) / matrix.sum()),
            "per_class": per_class, **averages}


def plot_confusion(package: Any, data: Any = None, path: str | Path | None = None, *, split: str = "test",
                   mirror: str | None = None, normalize: bool = False) -> Picture:
    """The confusion matrix (left) and per-class precision / recall / F1 bars (right).

    Args:
        package: as in `confusion_data`.
        data: as in `confusion_data`.
        split: as in `confusion_data`.
        mirror: as in `confusion_data`.
        path: write the figure here (.png, .svg or .pdf).
        normalize: colour each row by its share of the true class instead of the raw count.
    """
    result = confusion_data(package, data, split=split, mirror=mirror)
    matrix = np.asarray(result["matrix"], dtype=np.float64)
    shown = matrix / np.maximum(matrix.sum(axis=1, keepdims=True), 1) if normalize else matrix
    k = len(result["classes"])
    with style():
        side = min(4 + 0.35 * k, 14)
        figure = new_figure(side * 2.1, side)
        ax_matrix, ax_scores = figure.subplots(1, 2, width_ratios=[1.1, 1])
        _draw_matrix(ax_matrix, shown, matrix, result["classes"], figure)
        _draw_scores(ax_scores, result["per_class"])
        figure.suptitle(f"{result['dataset']}/{result['split']} · {result['count']} samples · "
                        f"accuracy {result['accuracy']:.2%} · macro F1 {result['macro']['f1']:.3f}")
    return finish(result, [figure], path)


def _draw_matrix(ax: Any, shown: np.ndarray, counts: np.ndarray, classes: list[str], figure: Any) -> None:
    image = ax.imshow(shown, cmap="Blues")
    figure.colorbar(image, ax=ax, shrink=0.8)
    ticks = np.arange(len(classes))
    ax.set_xticks(ticks, classes, rotation=90 if len(classes) > 10 else 0)
    ax.set_yticks(ticks, classes)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    if len(classes) <= ANNOTATE_UP_TO:
        threshold = shown.max() / 2
        for (i, j), count in np.ndenumerate(counts):
            if count:
                ax.text(j, i, f"{int(count)}", ha="center", va="center", fontsize=7,
                        color="white" if shown[i, j] > threshold else "black")


def _draw_scores(ax: Any, per_class: list[dict[str, Any]]) -> None:
    rows = np.arange(len(per_class))
    height = 0.27
    for offset, (key, color) in enumerate((("precision", "C0"), ("recall", "C1"), ("f1", "C2"))):
        ax.barh(rows + (offset - 1) * height, [c[key] for c in per_class], height, color=color, label=key)
    ax.set_yticks(rows, [f"{c['class']} (n={c['support']})" for c in per_class])
    ax.invert_yaxis()  # first class on top, as in the matrix
    ax.set_xlim(0, 1.0)
    ax.set_xlabel("score")
    ax.grid(axis="x", alpha=0.3)
    ax.legend(fontsize=7, loc="lower center", bbox_to_anchor=(0.5, 1.0), ncols=3, frameon=False)
