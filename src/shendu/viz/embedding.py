"""A 2-D map of what the network has learned: its penultimate features (the input of the final
classifier layer, captured with a forward pre-hook by `Predictor.features`) projected with PCA or t-SNE."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from shendu.errors import BadInputError
from shendu.viz._plot import Picture, as_dataset, as_predictor, finish, new_figure, rounded, style

METHODS = ("pca", "tsne")


def project(features: np.ndarray, method: str = "pca", seed: int = 0) -> np.ndarray:
    """(N, D) features → (N, 2) with scikit-learn's PCA or t-SNE (PCA-initialized, perplexity ≤ 30)."""
    if method not in METHODS:
        raise BadInputError(f"embedding method: expected one of {', '.join(METHODS)}, received {method!r}")
    n = features.shape[0]
    if n < 3:
        raise BadInputError(f"an embedding needs at least 3 samples, received {n}")
    if method == "pca":
        from sklearn.decomposition import PCA

        return PCA(n_components=2, random_state=seed).fit_transform(features)
    from sklearn.manifold import TSNE

    perplexity = float(min(30.0, (n - 1) / 3))  # t-SNE requires perplexity < n
    return TSNE(n_components=2, perplexity=perplexity, init="pca", random_state=seed).fit_transform(features)


def plot_embedding(package: Any, data: Any = None, path: str | Path | None = None, *, method: str = "pca",
                   split: str = "test", mirror: str | None = None, limit: int = 1000, seed: int = 0) -> Picture:
    """Penultimate features of up to `limit` samples (a seeded random subset), projected to 2-D and
    coloured by true class; misclassified samples are drawn with an x.

    Args:
        package: a `Predictor`, package directory or hub name.
        data: an `ArrayDataset`, a dataset name, or None for the package's own dataset.
        path: write the figure here (.png, .svg or .pdf).
        method: "pca" or "tsne".
        split: which split of a dataset named by `data`.
        mirror: where to find that dataset (folder or URL).
        limit: most samples used (t-SNE is quadratic in it).
        seed: seed of the subset and of the projection.

    Returns:
        A Picture with method, layer, feature_dim, classes, indices (positions in the split),
        points (N, 2), labels and predicted (class indices).
    """
    if method not in METHODS:
        raise BadInputError(f"embedding method: expected one of {', '.join(METHODS)}, received {method!r}")
    if limit < 3:
        raise BadInputError(f"limit: an embedding needs at least 3 samples, received {limit}")
    predictor = as_predictor(package)
    dataset = as_dataset(predictor, data, split, mirror)
    rng = np.random.default_rng(seed)
    indices = np.sort(rng.choice(len(dataset), size=min(limit, len(dataset)), replace=False))
    x = dataset.x[indices]
    features = predictor.features(x)  # (N, D): the final classifier layer's input
    points = project(features, method, seed)
    predicted = predictor.predict(x).indices
    labels = dataset.y[indices].numpy()
    result = {"method": method, "dataset": dataset.info.name, "split": dataset.split,
              "layer": predictor.classifier_layer(), "feature_dim": int(features.shape[1]),
              "classes": list(predictor.classes), "indices": indices.tolist(), "points": rounded(points, 4),
              "labels": labels.tolist(), "predicted": predicted.tolist()}
    with style():
        figure = _draw(points, labels, predicted, result)
    return finish(result, [figure], path)


def _draw(points: np.ndarray, labels: np.ndarray, predicted: np.ndarray, result: dict[str, Any]) -> Any:
    figure = new_figure(7.5, 6)
    ax = figure.subplots()
    classes = result["classes"]
    cmap = "tab10" if len(classes) <= 10 else "tab20"
    from matplotlib import colormaps

    colors = colormaps[cmap]
    wrong = labels != predicted
    for k, name in enumerate(classes):
        mine = labels == k
        ax.scatter(points[mine & ~wrong, 0], points[mine & ~wrong, 1], s=9, color=colors(k % colors.N), label=name)
        ax.scatter(points[mine & wrong, 0], points[mine & wrong, 1], s=22, marker="x", color=colors(k % colors.N))
    if len(classes) <= 20:
        ax.legend(fontsize=7, markerscale=1.5, loc="best", title="true class")
    ax.set_xticks([])
    ax.set_yticks([])
    title = "PCA" if result["method"] == "pca" else "t-SNE"
    figure.suptitle(f"{title} of {result['layer']}'s input ({result['feature_dim']}-d) · {result['dataset']}/"
                    f"{result['split']} · {len(labels)} samples, {int(wrong.sum())} misclassified (x)")
    return figure
