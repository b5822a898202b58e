"""Lowering: fused groups -> loop-level kernels (ir/kernel.py holds the IR, lowering.py the group lowerer,
rules.py the primitives' index rules, index.py index arithmetic and loop collapsing)."""
from ..ir.kernel import (Ix, Expr, Const, Load, Var, IndexValue, Op, Acc, Loop, AccInit, AccUpdate, Store, Gemm,  # noqa: F401
                         Buffer, Kernel, Program)
from ..ir.kernel_print import format_kernel  # noqa: F401


def __getattr__(name):
    # lower_plan on first use (PEP 562): the lowering pulls in the pass pipeline, which `import compiler` (reaching
    # lower/checks.py for the status layout) should not pay for
    if name == "lower_plan":
        from .lowering import lower_plan
        return lower_plan
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
