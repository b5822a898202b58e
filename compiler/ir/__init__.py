"""The IR: types, graphs, the text printer and parser, the verifier, graph export, and the loop-level kernel IR
(kernel.py) that lowering produces and codegen consumes."""
from .types import DType, TensorType, Spec, F32, F64, I32, I64, U32, BOOL, dtype, promote, symbol  # noqa: F401
from .graph import Graph, Node, Value, SourceLoc, GraphBuilder  # noqa: F401
from .printer import print_graph  # noqa: F401
from .parser import parse  # noqa: F401
from .verify import verify  # noqa: F401
