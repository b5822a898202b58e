"""cc.compile: trace -> passes -> fusion -> kernels -> LLVM -> JIT, cached per input signature.

function.py holds the compiled-function object (cc.compile, CompiledFunction: the signature cache, symbolic
versions and their guards); building and running programs lives one layer down in compiler/backends (build.py:
Lowered, program building and its cache key; executable.py: the CPU executable and its calling convention; cuda.py).

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
from ..backends.executable import Executable, fits_signature  # noqa: F401
from ..backends.build import BACKENDS, Lowered, build, register_backend  # noqa: F401
from .function import CompiledFunction, compile, set_num_threads, MAX_SYMBOLIC_VERSIONS  # noqa: F401
