"""The pictures people look at, in one import: `from shendu.viz.pictures import plot_confusion`.

Every `plot_*` function returns a `Picture` — a JSON-able dict of the data drawn, with the matplotlib
figure attached (shown inline in Jupyter) — and writes a PNG/SVG/PDF when given a path. The functions
that only compute (`run_curves`, `confusion_data`, `saliency_maps`, `grad_cam_maps`, …) need no
matplotlib figure. See docs/pictures.md.
"""
from shendu.viz._plot import Picture, use_bilingual_fonts
from shendu.viz.confusion import confusion_data, plot_confusion
from shendu.viz.curves import plot_curves, run_curves
from shendu.viz.embedding import plot_embedding, project
from shendu.viz.inspect import (conv_layers, feature_maps, grad_cam_maps, plot_feature_maps, plot_filters,
                                plot_gradcam, saliency_maps)
from shendu.viz.misclassified import misclassified, plot_misclassified

__all__ = ["Picture", "confusion_data", "conv_layers", "feature_maps", "grad_cam_maps", "misclassified",
           "plot_confusion", "plot_curves", "plot_embedding", "plot_feature_maps", "plot_filters", "plot_gradcam",
           "plot_misclassified", "project", "run_curves", "saliency_maps", "use_bilingual_fonts"]
