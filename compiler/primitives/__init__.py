"""All primitives: import this package to fill the registry. `REGISTRY` maps names to definitions."""
from .base import Primitive, REGISTRY, bind, get  # noqa: F401
from .elementwise import *  # noqa: F401,F403
from .elementwise import UNARY, BINARY  # noqa: F401
from .shape import broadcast_in_dim, reshape, transpose, slice, pad, concatenate, rev  # noqa: F401
from .reduce import reduce_sum, reduce_max, argmax  # noqa: F401
from .linalg import dot_general, conv2d, max_pool2d  # noqa: F401
from .linalg import conv2d_transpose_input, conv2d_transpose_kernel, max_pool2d_jvp, max_pool2d_vjp  # noqa: F401
from .linalg_decomp import solve, slogdet, cholesky, eigh, svd, svd_values  # noqa: F401
from .misc import const, dim, one_hot, take, check_index, scatter_add, stop_gradient  # noqa: F401
from .misc import optimization_barrier, iota  # noqa: F401
from .effects import debug_print  # noqa: F401
from .asserts import assert_true  # noqa: F401
from .prng import threefry2x32  # noqa: F401
from .collective import all_sum, all_mean, allreduce_start, allreduce_wait  # noqa: F401
