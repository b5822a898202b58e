"""Automatic differentiation as Graph -> Graph transforms (jvp.py forward, vjp.py reverse) and the public API."""
from .jvp import jvp_graph  # noqa: F401
from .vjp import vjp_graph, value_and_grad_graph  # noqa: F401
from .graphs import partition  # noqa: F401
from .api import jvp, vjp, grad, value_and_grad  # noqa: F401
from .jac import jacfwd, jacrev, hessian  # noqa: F401
from .check import check_grads  # noqa: F401
from .custom import stop_gradient, custom_jvp, custom_vjp, checkpoint, remat  # noqa: F401
from .vmap import vmap, batch_graph  # noqa: F401
