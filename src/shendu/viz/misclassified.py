"""The examples a package gets wrong, most confident mistakes first: image, true class, predicted class
and the probability it gave."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from shendu.errors import BadInputError
from shendu.viz._plot import (Picture, as_dataset, as_image, as_predictor, finish, grid_shape, new_figure,
                              predict_probabilities, style)


def misclassified(package: Any, data: Any = None, *, split: str = "test", mirror: str | None = None,
                  limit: int = 25) -> dict[str, Any]:
    """The misclassified samples of a split, sorted by the probability of the wrong class (highest first).

    Args:
        package: a `Predictor`, package directory or hub name.
        data: an `ArrayDataset`, a dataset name, or None for the package's own dataset.
        split: which split of a dataset named by `data`.
        mirror: where to find that dataset (folder or URL).
        limit: most examples returned.

    Returns:
        count, wrong (how many are misclassified), error_rate, and examples: index (position in the
        split), source_index (position in the original files, when known), true, predicted,
        probability (of the predicted class) and true_probability.
    """
    predictor = as_predictor(package)
    return _mistakes(predictor, as_dataset(predictor, data, split, mirror), limit)


def _mistakes(predictor: Any, dataset: Any, limit: int) -> dict[str, Any]:
    if limit < 1:
        raise BadInputError(f"limit: expected a positive number of examples, received {limit}")
    probabilities = predict_probabilities(predictor, dataset.x)
    predicted = probabilities.argmax(axis=1)
    truth = dataset.y.numpy()
    wrong = np.flatnonzero(predicted != truth)
    wrong = wrong[np.argsort(-probabilities[wrong, predicted[wrong]], kind="stable")]
    examples = [{"index": int(i), "source_index": None if dataset.index is None else int(dataset.index[i]),
                 "true": predictor.classes[truth[i]], "predicted": predictor.classes[predicted[i]],
                 "probability": float(probabilities[i, predicted[i]]),
                 "true_probability": float(probabilities[i, truth[i]])} for i in wrong[:limit]]
    return {"dataset": dataset.info.name, "split": dataset.split, "count": len(dataset), "wrong": int(len(wrong)),
            "error_rate": float(len(wrong) / max(len(dataset), 1)), "examples": examples}


def plot_misclassified(package: Any, data: Any = None, path: str | Path | None = None, *, split: str = "test",
                       mirror: str | None = None, limit: int = 25) -> Picture:
    """A grid of the most confident mistakes, each titled "true → predicted (probability)".

    Arguments as in `misclassified`, plus `path`: write the figure here (.png, .svg or .pdf).
    """
    predictor = as_predictor(package)
    dataset = as_dataset(predictor, data, split, mirror)
    result = _mistakes(predictor, dataset, limit)
    with style():
        figure = _draw(dataset, result)
    return finish(result, [figure], path)


def _draw(dataset: Any, result: dict[str, Any]) -> Any:
    examples = result["examples"]
    rows, cols = grid_shape(max(len(examples), 1), max_cols=6)
    figure = new_figure(1.7 * cols, 1.9 * rows + 0.5)
    axes = figure.subplots(rows, cols, squeeze=False)
    for ax in axes.flat:
        ax.set_axis_off()
    for ax, example in zip(axes.flat, examples):
        image = as_image(dataset.x[example["index"]])
        ax.imshow(image, cmap="gray" if image.ndim == 2 else None, interpolation="nearest")
        ax.set_title(f"#{example['index']}: {example['true']} → {example['predicted']}\n"
                     f"p={example['probability']:.2f}", fontsize=8, color="firebrick")
    if not examples:
        axes.flat[0].text(0.5, 0.5, "no misclassified examples", ha="center", va="center")
    figure.suptitle(f"{result['dataset']}/{result['split']}: {result['wrong']} of {result['count']} misclassified "
                    f"({result['error_rate']:.2%}); most confident first")
    return figure
