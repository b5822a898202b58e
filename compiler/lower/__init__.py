"""Lowering: fused groups -> loop-level kernels (ir/kernel.py holds the IR, lowering.py the group lowerer,
rules.py the primitives' index rules, index.py index arithmetic and loop collapsing)."""
from ..ir.kernel import (Ix, Expr, Const, Load, Var, IndexValue, Op, Acc, Loop, AccInit, AccUpdate, Store, Gemm,  # noqa: F401
                         Buffer, Kernel, Program)
from ..ir.kernel_print import format_kernel  # noqa: F401
from .lowering import lower_plan  # noqa: F401
