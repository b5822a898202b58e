"""vive: a differentiable-programming compiler for plain NumPy code.

    import compiler as cc
    g = cc.trace(lambda x: np.tanh(x) * 2, cc.Spec("f32[N,4]"))
    print(g)
"""
from .errors import ViveError, TraceError, ShapeError, DTypeError, BackendError, VerifyError, ParseError, BoundsError  # noqa: F401
from .ir import Graph, Spec, TensorType, parse, print_graph, verify  # noqa: F401
from .trace import trace, interpret, evaluate  # noqa: F401
from . import primitives  # noqa: F401
from .transforms import jvp, vjp, grad, value_and_grad, jacfwd, jacrev, hessian, check_grads, stop_gradient  # noqa: F401,E501
from .transforms import vmap  # noqa: F401
from .control import scan, fori_loop, while_loop, cond, switch  # noqa: F401
from . import nn, optim, data, pytree, special, distributed  # noqa: F401  (cc.pytree.register, register_dataclass; cc.special.erf)
from . import debug  # noqa: F401  (cc.debug.print; also the VIVE_DEBUG switches)
from .saving import save, load, CheckpointError  # noqa: F401  (cc.save / cc.load: pytrees in one .npz)
from .transforms import custom_jvp, custom_vjp, checkpoint, remat  # noqa: F401  (cc.checkpoint is remat)
from . import random  # noqa: F401  (cc.random: keys, split, fold_in, uniform, normal, ...; JAX's numbers)
from .compile import compile  # noqa: F401,E402  (cc.compile; the module is compiler.compile)
from .backends import cuda  # noqa: F401,E402  (registers backend="cuda"; cc.cuda.to_device/to_host)
from .dump import dump  # noqa: F401  (cc.dump: any stage as text; the module is compiler.dump)

__version__ = "0.1.0"
