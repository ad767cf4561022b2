"""Looking inside models: layer summaries (torchinfo) and dataflow graphs (torch.fx) as JSON."""
from shendu.viz.graph import GRAPH_JSON_SCHEMA, SCHEMA, GraphTraceError, model_graph, validate_graph
from shendu.viz.summary import LayerRow, ModelSummary, build_for_input, parse_input_shape, summarize

__all__ = ["GRAPH_JSON_SCHEMA", "SCHEMA", "GraphTraceError", "LayerRow", "ModelSummary", "build_for_input",
           "model_graph", "parse_input_shape", "summarize", "validate_graph"]
