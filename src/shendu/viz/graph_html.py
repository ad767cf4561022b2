"""Draw a `shendu.graph/1` model graph (docs/graph-schema.md) as a standalone HTML page with inline SVG:
no script, no stylesheet or font from the network, so it opens offline and can be mailed around.

The layout is the classic layered (Sugiyama) one, top to bottom:

1. Fold. Consecutive sibling blocks with the same structure (the schema's `repeat_of`) become one box,
   "layer3.1–layer3.35 ×35 (Bottleneck)"; so does a module without sub-modules whose forward fx traced
   through (LocalResponseNorm: a dozen tensor operations, one layer to its user). When the graph still
   has more than `max_boxes` boxes, whole blocks are folded too, smallest first (blocks of plain layers,
   then blocks of those, …). A fold is kept only if no dataflow leaves it and comes back
   (the folded graph must stay acyclic).
2. Layer. Each box sits one layer below its lowest input (longest path from the inputs); an edge that
   spans several layers gets invisible waypoints, one per layer it crosses.
3. Order. Boxes in a layer are sorted by the mean position of their neighbours (barycenter), sweeping
   down and up; the ordering with the fewest edge crossings wins.
4. Place. Each box is pulled towards its neighbours' mean x; the closest positions that keep the
   boxes of a layer apart are found exactly by isotonic regression (pool adjacent violators).
"""
from __future__ import annotations

import heapq
import html
import json
from collections import Counter
from pathlib import Path
from typing import Any

from shendu.errors import BadInputError

MAX_BOXES = 120
FONT = "11px"
CHAR_W, LINE_H, PAD_X, PAD_Y = 6.3, 14, 10, 6
GAP_X, GAP_Y, DUMMY_W = 24, 30, 8
SWEEPS = 8  # barycenter ordering passes
PLACE_SWEEPS = 40  # x-placement passes: a long chain straightens one box per pass
ACTIVATIONS = {"ReLU", "ReLU6", "Tanh", "Sigmoid", "GELU", "SiLU", "ELU", "LeakyReLU", "PReLU", "Softmax", "Mish",
               "Hardswish", "Hardsigmoid", "LogSoftmax", "SELU", "Activation"}
FILLS = {"conv": "#dbeafe", "norm": "#ede9fe", "act": "#fee2e2", "pool": "#dcfce7", "linear": "#fef3c7",
         "dropout": "#f1f5f9", "module": "#e0f2fe", "function": "#f8fafc", "io": "#e5e7eb", "repeat": "#fcd34d",
         "block": "#bae6fd"}


# -- 1. folding ------------------------------------------------------------------------------------------
class _Graph:
    """Adjacency of the graph's nodes and its scope tree, for folding decisions."""

    def __init__(self, graph: dict[str, Any]) -> None:
        self.nodes = {n["id"]: n for n in graph["nodes"]}
        self.order = {n["id"]: i for i, n in enumerate(graph["nodes"])}
        self.edges = [(e["source"], e["target"]) for e in graph["edges"]]
        self.implicit = not self.edges and len(self.nodes) > 1  # "modules" graphs: call order, no dataflow
        if self.implicit:
            ids = list(self.nodes)
            self.edges = list(zip(ids, ids[1:]))
        self.succ: dict[str, list[str]] = {i: [] for i in self.nodes}
        self.pred: dict[str, list[str]] = {i: [] for i in self.nodes}
        for a, b in self.edges:
            self.succ[a].append(b)
            self.pred[b].append(a)

    def members(self, entry: dict[str, Any]) -> list[str]:
        found = list(entry["nodes"])
        for child in entry["children"]:
            found += self.members(child)
        return sorted(found, key=self.order.__getitem__)

    def traced_leaf(self, entry: dict[str, Any]) -> bool:
        """A module without sub-modules that fx traced through (its forward is tensor operations, like
        LocalResponseNorm's): one layer to the user, so one box. A leaf module merely called several
        times (a shared ReLU) holds only call_module nodes and is not folded."""
        return not entry["children"] and len(entry["nodes"]) > 1 and any(
            self.nodes[i]["op"] in ("call_function", "call_method") for i in entry["nodes"])

    def convex(self, members: list[str]) -> bool:
        """True when no path leaves `members` and re-enters them (folding them keeps the graph acyclic)."""
        inside = set(members)
        below = self._reach([b for a in members for b in self.succ[a] if b not in inside], self.succ, inside)
        above = self._reach([a for b in members for a in self.pred[b] if a not in inside], self.pred, inside)
        return not (below & above)

    @staticmethod
    def _reach(start: list[str], step: dict[str, list[str]], stop: set[str]) -> set[str]:
        seen, stack = set(start), list(start)
        while stack:
            for nxt in step[stack.pop()]:
                if nxt not in seen and nxt not in stop:
                    seen.add(nxt)
                    stack.append(nxt)
        return seen


def _folds(g: _Graph, entry: dict[str, Any], fold_height: int | None, out: list[dict]) -> None:
    """Append the folds under `entry`: runs of repeated sibling blocks, traced-through leaf modules, and
    the outermost blocks no taller than `fold_height` (a block of leaf modules has height 1)."""
    children, i = entry["children"], 0
    while i < len(children):
        run = _run(children, i)
        members = [m for block in run for m in g.members(block)]
        if len(run) > 1 and g.convex(members):
            out.append(_fold("repeat", run, members))
            i += len(run)
            continue
        child = children[i]
        small = child["children"] and fold_height is not None and _height(child) <= fold_height
        if (small or g.traced_leaf(child)) and g.convex(g.members(child)):
            out.append(_fold("block", [child], g.members(child)))
        else:
            _folds(g, child, fold_height, out)
        i += 1


def _run(children: list[dict[str, Any]], i: int) -> list[dict[str, Any]]:
    """children[i] and the consecutive siblings after it that repeat the same block."""
    run, key = [children[i]], children[i]["repeat_of"] or children[i]["scope"]
    while children[i]["children"] and i + len(run) < len(children) and children[i + len(run)]["repeat_of"] == key:
        run.append(children[i + len(run)])
    return run


def _fold(kind: str, blocks: list[dict[str, Any]], members: list[str]) -> dict[str, Any]:
    first, last, module_type = blocks[0]["scope"], blocks[-1]["scope"], blocks[0]["module_type"]
    label = (f"{first}–{last} ×{len(blocks)} ({module_type})" if kind == "repeat" else f"{first} ({module_type})")
    inner = Counter(c["module_type"] for c in blocks[0]["children"])  # what one block is made of
    return {"id": f"fold:{first}", "kind": kind, "label": label, "first": first, "last": last, "count": len(blocks),
            "module_type": module_type, "params": sum(b["params"] for b in blocks), "members": members,
            "inner": [f"{n}×{name}" for name, n in inner.most_common(3)]}


def _height(entry: dict[str, Any]) -> int:
    """0 for a leaf module, 1 for a block of leaf modules, and so on up."""
    return 1 + max((_height(c) for c in entry["children"]), default=-1)


def _plan(g: _Graph, graph: dict[str, Any], collapse: bool, max_boxes: int) -> list[dict[str, Any]]:
    """The folds: repeated runs and traced-through leaf modules always (when `collapse`), then whole
    blocks, the smallest first (height 1, 2, …), until the graph has at most `max_boxes` boxes."""
    if not collapse:
        return []
    hierarchy = graph["hierarchy"]
    folds: list[dict[str, Any]] = []
    for fold_height in [None, *range(1, _height(hierarchy))]:
        folds = []
        _folds(g, hierarchy, fold_height, folds)
        if len(g.nodes) - sum(len(f["members"]) - 1 for f in folds) <= max_boxes:
            break
    return folds


# -- boxes -------------------------------------------------------------------------------------------------
def _kind(node: dict[str, Any]) -> str:
    if node["op"] in ("placeholder", "output"):
        return "io"
    if node["op"] != "call_module":
        return "function"
    name = node["module_type"] or ""
    for key, kind in (("Conv", "conv"), ("Norm", "norm"), ("Pool", "pool"), ("Linear", "linear"),
                      ("Dropout", "dropout")):
        if key in name:
            return kind
    return "act" if name in ACTIVATIONS else "module"


def _shape(shape: list[int] | None) -> str:
    return "×".join(str(d) for d in shape) if shape else "–"


def _node_box(node: dict[str, Any]) -> dict[str, Any]:
    op = node["op"]
    title = {"placeholder": "input", "output": "output"}.get(op) or node["module_type"] or \
        node["target"].rpartition(".")[2]
    where = {"placeholder": node["target"], "output": ""}.get(op, node["target"] if op in ("call_module", "get_attr")
                                                             else node["scope"])
    detail = _shape(node["output_shape"]) + (f" · {node['params']:,} params" if node["params"] else "")
    return {"id": node["id"], "kind": _kind(node), "lines": [line for line in (title, where, detail) if line],
            "members": [node["id"]], "params": node["params"], "output_shape": node["output_shape"],
            "label": f"{where} ({title})" if where else title}


def _fold_box(fold: dict[str, Any], g: _Graph) -> dict[str, Any]:
    inside = set(fold["members"])
    leaving = [m for m in fold["members"] if any(s not in inside for s in g.succ[m])] or fold["members"]
    shape = g.nodes[leaving[-1]]["output_shape"]
    ops = len(fold["members"])
    steps = [_node_box(g.nodes[m])["lines"][0] for m in fold["members"]]
    if ops <= 4 and fold["kind"] == "block":
        inside_text = " → ".join(steps)
    else:
        each = f"each {', '.join(fold['inner'])} · " if fold["kind"] == "repeat" and fold["inner"] else \
            (", ".join(fold["inner"]) + " · " if fold["inner"] else "")
        inside_text = f"{each}{ops} operations"
    detail = f"{_shape(shape)} · {fold['params']:,} params"
    return {"id": fold["id"], "kind": fold["kind"], "lines": [fold["label"], inside_text, detail],
            "members": fold["members"], "params": fold["params"], "output_shape": shape, "label": fold["label"],
            "count": fold["count"]}


def _boxes(g: _Graph, folds: list[dict[str, Any]]) -> tuple[list[dict], dict[str, str]]:
    """Boxes in order of their first node, and node id → box id."""
    owner: dict[str, str] = {}
    boxes = {}
    for fold in folds:
        boxes[fold["id"]] = _fold_box(fold, g)
        owner.update({m: fold["id"] for m in fold["members"]})
    for node_id, node in g.nodes.items():
        if node_id not in owner:
            owner[node_id] = node_id
            boxes[node_id] = _node_box(node)
    first = {box_id: min(g.order[m] for m in box["members"]) for box_id, box in boxes.items()}
    ordered = sorted(boxes.values(), key=lambda b: first[b["id"]])
    for box in ordered:
        box["w"] = max(90.0, max(_text_width(line) for line in box["lines"]) + 2 * PAD_X)
        box["h"] = len(box["lines"]) * LINE_H + 2 * PAD_Y
    return ordered, owner


def _text_width(text: str) -> float:
    return sum(CHAR_W * (2 if ord(ch) > 0x2E80 else 1) for ch in text)  # CJK glyphs are twice as wide


# -- 2. layering -------------------------------------------------------------------------------------------
def _layers(boxes: list[dict], edges: list[tuple[str, str]]) -> dict[str, int]:
    """Longest-path layering: a box sits one layer below its lowest predecessor (Kahn's order)."""
    index = {b["id"]: i for i, b in enumerate(boxes)}
    succ: dict[str, list[str]] = {b["id"]: [] for b in boxes}
    indegree = {b["id"]: 0 for b in boxes}
    for a, b in edges:
        succ[a].append(b)
        indegree[b] += 1
    layer = {b["id"]: 0 for b in boxes}
    ready = [(index[i], i) for i, d in indegree.items() if d == 0]
    heapq.heapify(ready)
    done = 0
    while ready:
        _, box = heapq.heappop(ready)
        done += 1
        for nxt in succ[box]:
            layer[nxt] = max(layer[nxt], layer[box] + 1)
            indegree[nxt] -= 1
            if indegree[nxt] == 0:
                heapq.heappush(ready, (index[nxt], nxt))
    if done != len(boxes):
        raise BadInputError("graph: the dataflow has a cycle; a shendu.graph/1 file must be a DAG "
                            "(re-export it with `shendu zoo show NAME --graph FILE`)")
    return layer


def _split_long_edges(edges: list[tuple[str, str]], layer: dict[str, int]) -> tuple[list[tuple[str, str]], dict]:
    """Edges of one layer each: a long edge becomes a chain through waypoints ("~source~target~k")."""
    short, chains = [], {}
    for a, b in edges:
        chain = [a] + [f"~{a}~{b}~{k}" for k in range(layer[a] + 1, layer[b])] + [b]
        for k, waypoint in enumerate(chain[1:-1], start=layer[a] + 1):
            layer[waypoint] = k
        short += list(zip(chain, chain[1:]))
        chains[(a, b)] = chain
    return short, chains


# -- 3. ordering -------------------------------------------------------------------------------------------
def _order(layer: dict[str, int], edges: list[tuple[str, str]], start: dict[str, float]) -> list[list[str]]:
    """Barycenter sweeps (down, then up) from the initial order `start`; the fewest crossings win."""
    rows: list[list[str]] = [[] for _ in range(max(layer.values(), default=0) + 1)]
    for item in sorted(layer, key=lambda i: start[i]):
        rows[layer[item]].append(item)
    up: dict[str, list[str]] = {i: [] for i in layer}
    down: dict[str, list[str]] = {i: [] for i in layer}
    for a, b in edges:
        down[a].append(b)
        up[b].append(a)
    best, best_crossings = [list(r) for r in rows], _crossings(rows, down)
    for sweep in range(SWEEPS):
        indices = range(1, len(rows)) if sweep % 2 == 0 else range(len(rows) - 2, -1, -1)
        neighbours = up if sweep % 2 == 0 else down
        for r in indices:
            ref = {item: pos for pos, item in enumerate(rows[r - 1 if sweep % 2 == 0 else r + 1])}
            current = {item: pos for pos, item in enumerate(rows[r])}
            rows[r].sort(key=lambda i: _barycenter(neighbours[i], ref, current[i]))
        crossings = _crossings(rows, down)
        if crossings < best_crossings:
            best, best_crossings = [list(r) for r in rows], crossings
    return best


def _barycenter(neighbours: list[str], ref: dict[str, int], own: int) -> float:
    positions = [ref[n] for n in neighbours if n in ref]
    return sum(positions) / len(positions) if positions else float(own)


def _crossings(rows: list[list[str]], down: dict[str, list[str]]) -> int:
    total = 0
    for upper, lower in zip(rows, rows[1:]):
        where = {item: pos for pos, item in enumerate(lower)}
        segments = sorted((pu, where[v]) for pu, u in enumerate(upper) for v in down[u] if v in where)
        total += sum(1 for i, (a1, b1) in enumerate(segments) for a2, b2 in segments[i + 1:] if a2 > a1 and b2 < b1)
    return total


# -- 4. placement ------------------------------------------------------------------------------------------
def _place_rows(rows: list[list[str]], width: dict[str, float], edges: list[tuple[str, str]]) -> dict[str, float]:
    """x centres: each item pulled to its neighbours' mean x, rows kept apart by isotonic regression."""
    x: dict[str, float] = {}
    for row in rows:
        total = sum(width[i] for i in row) + GAP_X * (len(row) - 1)
        left = -total / 2
        for item in row:
            x[item] = left + width[item] / 2
            left += width[item] + GAP_X
    near: dict[str, list[str]] = {i: [] for i in x}
    for a, b in edges:
        near[a].append(b)
        near[b].append(a)
    for _ in range(PLACE_SWEEPS):
        for row in rows:
            wanted = [sum(x[n] for n in near[i]) / len(near[i]) if near[i] else x[i] for i in row]
            for item, value in zip(row, _separate(wanted, [width[i] for i in row])):
                x[item] = value
    return x


def _separate(wanted: list[float], widths: list[float]) -> list[float]:
    """Positions closest (least squares) to `wanted` with p[i+1] - p[i] >= (w[i] + w[i+1]) / 2 + GAP_X."""
    offsets = [0.0]
    for a, b in zip(widths, widths[1:]):
        offsets.append(offsets[-1] + (a + b) / 2 + GAP_X)
    blocks: list[list[float]] = []  # [mean, count] of pooled targets, kept non-decreasing
    for target in (w - o for w, o in zip(wanted, offsets)):
        blocks.append([target, 1])
        while len(blocks) > 1 and blocks[-2][0] > blocks[-1][0]:
            mean, count = blocks.pop()
            blocks[-1] = [(blocks[-1][0] * blocks[-1][1] + mean * count) / (blocks[-1][1] + count),
                          blocks[-1][1] + count]
    pooled = [mean for mean, count in blocks for _ in range(int(count))]
    return [p + o for p, o in zip(pooled, offsets)]


def graph_layout(graph: dict[str, Any], *, collapse: bool = True, max_boxes: int = MAX_BOXES) -> dict[str, Any]:
    """Boxes and edges of the layered drawing of `graph`, in pixels (the data behind the SVG).

    Args:
        graph: a `shendu.graph/1` dict (`shendu.viz.model_graph`, or the JSON `zoo show --graph` writes).
        collapse: fold repeated blocks (and, past `max_boxes`, whole blocks); False draws every node.
        max_boxes: fold whole blocks, deepest first, until at most this many boxes remain.

    Returns:
        model, width, height, boxes (id, kind, lines, members, x, y, w, h, …), edges (source,
        target, points) and folded (the folded runs and blocks with their labels).
    """
    from shendu.viz.graph import validate_graph

    validate_graph(graph)
    g = _Graph(graph)
    folds = _plan(g, graph, collapse, max_boxes)
    boxes, owner = _boxes(g, folds)
    edges = list(dict.fromkeys((owner[a], owner[b]) for a, b in g.edges if owner[a] != owner[b]))
    layer = _layers(boxes, edges)
    short, chains = _split_long_edges(edges, layer)
    start = {b["id"]: float(i) for i, b in enumerate(boxes)}
    for (a, _b), chain in chains.items():
        start.update({w: start[a] + 0.5 for w in chain[1:-1]})
    rows = _order(layer, short, start)
    by_id = {b["id"]: b for b in boxes}
    width = {i: by_id[i]["w"] if i in by_id else DUMMY_W for i in layer}
    x = _place_rows(rows, width, short)
    return _coordinates(graph, boxes, rows, x, chains, g.implicit, folds)


def _coordinates(graph: dict, boxes: list[dict], rows: list[list[str]], x: dict[str, float], chains: dict,
                 implicit: bool, folds: list[dict]) -> dict[str, Any]:
    by_id = {b["id"]: b for b in boxes}
    left = min((x[i] - (by_id[i]["w"] if i in by_id else DUMMY_W) / 2 for i in x), default=0.0) - 20
    y, top = {}, 20.0
    for row in rows:
        height = max((by_id[i]["h"] for i in row if i in by_id), default=LINE_H)
        y.update({i: top + height / 2 for i in row})
        top += height + GAP_Y
    for box in boxes:
        box["x"], box["y"] = round(x[box["id"]] - left, 1), round(y[box["id"]], 1)
    edges = []
    for (a, b), chain in chains.items():
        points = [(x[a] - left, y[a] + by_id[a]["h"] / 2)] + [(x[w] - left, y[w]) for w in chain[1:-1]] + \
                 [(x[b] - left, y[b] - by_id[b]["h"] / 2)]
        edges.append({"source": a, "target": b, "points": [[round(px, 1), round(py, 1)] for px, py in points]})
    right = max((b["x"] + b["w"] / 2 for b in boxes), default=0.0)
    waypoints = max((p[0] for e in edges for p in e["points"]), default=0.0)
    return {"model": graph["model"], "source": graph["source"], "input_shape": graph["input_shape"],
            "params": graph["params"], "nodes": len(graph["nodes"]), "implicit_edges": implicit,
            "width": round(max(right, waypoints) + 20, 1), "height": round(top, 1), "boxes": boxes, "edges": edges,
            "folded": [{k: f[k] for k in ("kind", "label", "first", "last", "count", "module_type", "params")}
                       | {"operations": len(f["members"])} for f in folds]}


# -- drawing -----------------------------------------------------------------------------------------------
def graph_svg(layout: dict[str, Any], *, standalone: bool = False) -> str:
    """The layout as an SVG element (with the XML namespace when `standalone`, for a .svg file)."""
    ns = ' xmlns="http://www.w3.org/2000/svg"' if standalone else ""
    parts = [f'<svg{ns} width="{layout["width"]}" height="{layout["height"]}" '
             f'viewBox="0 0 {layout["width"]} {layout["height"]}" font-family="DejaVu Sans, Verdana, sans-serif" '
             f'font-size="{FONT}">',
             '<defs><marker id="arrow" viewBox="0 0 8 8" refX="8" refY="4" markerWidth="7" markerHeight="7" '
             'orient="auto"><path d="M0,0 L8,4 L0,8 z" fill="#64748b"/></marker></defs>']
    dash = ' stroke-dasharray="4 3"' if layout["implicit_edges"] else ""
    parts += [f'<path d="{_curve(e["points"])}" fill="none" stroke="#64748b" stroke-width="1.2"{dash} '
              f'marker-end="url(#arrow)"/>' for e in layout["edges"]]
    parts += [_svg_box(box) for box in layout["boxes"]]
    parts.append("</svg>")
    return "\n".join(parts)


def _curve(points: list[list[float]]) -> str:
    """A smooth path through the points, leaving and entering each vertically."""
    (x0, y0), path = points[0], [f"M{points[0][0]},{points[0][1]}"]
    for x1, y1 in points[1:]:
        mid = (y0 + y1) / 2
        path.append(f"C{x0},{mid} {x1},{mid} {x1},{y1}")
        x0, y0 = x1, y1
    return " ".join(path)


def _svg_box(box: dict[str, Any]) -> str:
    left, top = box["x"] - box["w"] / 2, box["y"] - box["h"] / 2
    folded = box["kind"] in ("repeat", "block")
    stroke = ' stroke="#92400e" stroke-width="2"' if box["kind"] == "repeat" else ' stroke="#475569"'
    tip = box["label"] if not folded else f"{box['label']}: " + ", ".join(box["members"][:40]) + \
        (" …" if len(box["members"]) > 40 else "")
    lines = []
    for k, line in enumerate(box["lines"]):
        weight = ' font-weight="bold"' if k == 0 else ' fill="#334155"'
        lines.append(f'<text x="{box["x"]}" y="{top + PAD_Y + LINE_H * (k + 0.8):.1f}" text-anchor="middle"'
                     f'{weight}>{html.escape(line)}</text>')
    shadow = (f'<rect x="{left + 4:.1f}" y="{top + 4:.1f}" width="{box["w"]:.1f}" height="{box["h"]:.1f}" rx="6" '
              f'fill="#fde68a"{stroke}/>' if box["kind"] == "repeat" else "")  # a stack of cards: ×N
    return (f'<g class="box {box["kind"]}"><title>{html.escape(tip)}</title>{shadow}'
            f'<rect x="{left:.1f}" y="{top:.1f}" width="{box["w"]:.1f}" height="{box["h"]:.1f}" rx="6" '
            f'fill="{FILLS.get(box["kind"], "#ffffff")}"{stroke}/>' + "".join(lines) + "</g>")


def render_graph_html(graph: dict[str, Any], path: str | Path | None = None, *, collapse: bool = True,
                      max_boxes: int = MAX_BOXES, title: str | None = None) -> dict[str, Any]:
    """Lay out `graph` and write it as a standalone HTML page (or a bare SVG file when `path` ends in .svg).

    Args:
        graph: a `shendu.graph/1` dict.
        path: the .html (or .svg) file to write; None only computes the layout.
        collapse, max_boxes: as in `graph_layout`.
        title: page title; default the model's name.

    Returns:
        The layout (`graph_layout`) plus "file" (the path written, or None) and "html" (the page).
    """
    layout = graph_layout(graph, collapse=collapse, max_boxes=max_boxes)
    page = _page(layout, title or layout["model"])
    if path is not None:
        path = Path(path)
        if path.suffix.lower() not in (".html", ".htm", ".svg"):
            raise BadInputError(f"graph output: expected a file ending in .html or .svg, received {path}")
        path.parent.mkdir(parents=True, exist_ok=True)
        text = graph_svg(layout, standalone=True) if path.suffix.lower() == ".svg" else page
        path.write_text(text, encoding="utf-8")
    return {**layout, "file": str(path) if path is not None else None, "html": page}


def _page(layout: dict[str, Any], title: str) -> str:
    shape = "×".join(str(d) for d in layout["input_shape"])
    summary = (f"input {shape} · {layout['params']:,} parameters · {layout['nodes']} operations drawn as "
               f"{len(layout['boxes'])} boxes · traced with {layout['source']}")
    folded = "".join(f"<tr><td>{html.escape(f['label'])}</td><td>{f['operations']}</td><td>{f['params']:,}</td></tr>"
                     for f in layout["folded"])
    table = (f"<details open><summary>{len(layout['folded'])} folded block(s)</summary><table><tr><th>block</th>"
             f"<th>operations</th><th>parameters</th></tr>{folded}</table></details>" if folded else "")
    note = ("<p><em>No dataflow was traced (module-tree fallback): dashed arrows show the call order.</em></p>"
            if layout["implicit_edges"] else "")
    return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)} · shendu '
            f"graph</title>\n<style>body{{font-family:DejaVu Sans,Verdana,sans-serif;margin:16px;color:#0f172a}}"
            f"table{{border-collapse:collapse;font-size:12px}}td,th{{border:1px solid #cbd5e1;padding:2px 8px}}"
            f".box:hover rect{{stroke:#0f172a;stroke-width:2}}</style></head>\n<body><h1>{html.escape(title)}</h1>"
            f"<p>{html.escape(summary)}</p>{note}{table}\n{graph_svg(layout)}\n"
            f'<script type="application/json" id="shendu-graph-layout">{_json_for_html(layout)}</script>'
            f"\n</body></html>\n")


def _json_for_html(layout: dict[str, Any]) -> str:
    """The layout as JSON that cannot close the script element it sits in."""
    return json.dumps({k: v for k, v in layout.items() if k != "html"}).replace("</", "<\\/")



# -- what to draw, and Netron ------------------------------------------------------------------------------
def graph_of(target: str | Path, input_shape: str | None = None, *, classes: int | None = None,
             fallback: str | None = None) -> tuple[dict[str, Any], Any]:
    """The graph of a package directory / hub name, a registered model name, or a graph JSON file.

    Args:
        target: a package directory, a `.json` file written by `zoo show --graph`, a hub name
            `user/model[:tag]`, or a registered model name (`resnet152`).
        input_shape: "3x32x32" (or a sequence length for text models); default the package's input,
            or the model's reference size.
        classes: outputs of a registry model; default the reference setting's.
        fallback: "modules" to export the module tree when torch.fx cannot trace the model.

    Returns:
        (graph, source): source is the `Predictor` of a package, the nn.Module of a registry model,
        or None for a JSON file.
    """
    from shendu.models import MODELS
    from shendu.viz.graph import model_graph
    from shendu.viz.summary import build_for_input, parse_input_shape

    path = Path(target)
    if path.suffix.lower() == ".json" and path.is_file():
        return json.loads(path.read_text(encoding="utf-8")), None
    if path.is_dir() or ("/" in str(target) and str(target) not in MODELS.names()):
        from shendu.viz._plot import as_predictor

        predictor = as_predictor(target)
        shape = parse_input_shape(input_shape, predictor.modality) if input_shape else predictor.input_shape
        return model_graph(predictor.model, shape, name=predictor.meta["model"]["name"], fallback=fallback,
                           modality=predictor.modality), predictor
    modality = MODELS.meta(str(target)).get("modality", "image")  # unknown names fail here with did-you-mean
    shape = parse_input_shape(input_shape, modality) if input_shape else None
    model, shape = build_for_input(str(target), shape, classes)
    return model_graph(model, shape, name=str(target), fallback=fallback, modality=modality), model


NETRON_MISSING = ("--netron needs the netron package, which is not installed: pip install netron (then run the "
                  "command again). The HTML graph needs nothing extra: drop --netron to get only that.")


def netron_module() -> Any:
    """The `netron` module, or a ShenduError (exit code 1) saying how to install it."""
    from shendu.errors import ShenduError

    try:
        import netron
    except ImportError:
        raise ShenduError(NETRON_MISSING) from None
    return netron


def export_for_netron(source: Any, graph: dict[str, Any], path: str | Path) -> Path:
    """Write the ONNX file Netron opens: a package through `shendu.hub._export.export_onnx` when that
    exists, a bare model (or a package without it) through `torch.onnx.export` on one example input."""
    import torch

    from shendu.errors import ShenduError
    from shendu.viz.summary import example_input

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if source is None:
        raise BadInputError("--netron needs a model: pass a package or a model name, not a graph JSON file")
    try:
        from shendu.hub import _export

        exporter = getattr(_export, "export_onnx", None)
    except ImportError:
        exporter = None
    if exporter is not None and not isinstance(source, torch.nn.Module):
        return Path(exporter(source, path))
    model = source if isinstance(source, torch.nn.Module) else source.model
    x = example_input(model, graph["input_shape"])
    try:
        torch.onnx.export(model.eval(), (x,), str(path), input_names=["input"], output_names=["logits"],
                          external_data=False)  # one file to hand over (zoo models are far below ONNX's 2 GB)
    except Exception as exc:  # the exporters raise many types; the user needs the reason, not the type
        raise ShenduError(f"could not export {graph['model']} to ONNX for Netron: {type(exc).__name__}: {exc}; "
                          "the HTML graph (without --netron) does not need ONNX") from exc
    return path


def open_in_netron(onnx_path: str | Path, netron: Any = None, *, wait: bool = True) -> Any:
    """Start Netron's local server on the ONNX file (it opens the browser); with `wait`, block until it
    is stopped (Ctrl+C). Returns the server's address."""
    netron = netron or netron_module()
    address = netron.start(str(onnx_path))
    if wait and hasattr(netron, "wait"):
        netron.wait()
    return address
