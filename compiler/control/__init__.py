"""Structured control flow (cc.scan, cc.fori_loop, cc.while_loop, cc.cond, cc.switch): ops whose nodes hold
sub-graphs, differentiable, lowered as loops."""
from .prims import scan_p, while_p, cond_p  # noqa: F401
from .api import scan, fori_loop, while_loop, cond, switch  # noqa: F401
