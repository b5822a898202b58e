"""cc.compile: trace -> passes -> fusion -> kernels -> LLVM -> JIT, cached per input signature.

The one package of `compiler/` that imports `runtime/`: function.py (cc.compile, CompiledFunction), build.py
(Lowered, build, cache keys), executable.py (Executable: calling a loaded program).

    step = cc.compile(cc.value_and_grad(loss))
    loss_value, grads = step(params, x, y)
    print(step.lower(params, x, y).kernels)          # the loop-level kernels

Shapes: the first call with a signature compiles code specialised to its exact shapes (constant trip counts,
BLAS sizes known). When a later call differs only in some dimensions (a smaller last batch, a new batch
size), those dimensions become symbolic and the function is compiled once more for every size of them
(torch.compile's "automatic dynamic shapes"): a training loop compiles at most twice, never once per size.
`f.lower(cc.Spec("f32[N,784]"), ...)` compiles the symbolic version up front. A symbolic version carries the
guards its trace recorded (compiler/guards.py: N >= 3 for x[:3], ...); a call whose sizes break them gets another
version, and any failure of a symbolic trace falls back to a version for the exact shapes.
"""
import os

# NOTE: set before libgomp loads (runtime loads it on first use): idle OpenMP workers spin only briefly (enough
# for back-to-back parallel loops of one call), then sleep instead of stealing a core from BLAS or other threads.
os.environ.setdefault("GOMP_SPINCOUNT", "20000")

from .executable import Executable, fits_signature  # noqa: E402,F401
from .build import (BACKENDS, Lowered, build, register_backend, _entry_name, _graph_key, _order_slots,  # noqa: E402,F401
                    _program_meta)
from .function import CompiledFunction, compile, set_num_threads, MAX_SYMBOLIC_VERSIONS  # noqa: E402,F401
