"""Control flow on the cuda backend: a host-side loop of launches (lower/regions.py has the contract).

A program with region kernels runs as its PtxProgram's `steps`: runs of launches, and region steps. A region
step fills its sub-programs' slot tables with device pointers the way the CPU's region kernel does
(codegen/llvm_regions.py): fixed buffers once, then per iteration the carries' two buffers swapped (the last
iteration of a scan writes the result buffer; a while loop copies its final carry there when it ended in the
twin), x and y rows as base + t * row bytes. The condition of a while loop and the index of a cond are read back
to the host (one small synchronous copy each time: the host decides what runs next).

NOTE: like backends/cuda.py this implements cc.compile for the GPU, so it may use runtime/ (lazily).
"""
from __future__ import annotations

import numpy as np
from ..lazy import sympy

from ..errors import BackendError


class _Ptr:
    """A device address where the launch code expects a DeviceArray: only `.handle` is read."""
    __slots__ = ("handle",)

    def __init__(self, handle):
        self.handle = handle


def _value(e, env):
    if isinstance(e, int):
        return e
    v = sympy.sympify(e).xreplace(env)
    if not v.is_Integer:
        raise BackendError(f"cuda: cannot evaluate size {e} at these sizes")
    return int(v)


def _cuda():
    import runtime.cuda as cuda
    return cuda


class RegionRunner:
    """Runs the steps of a CudaExecutable's program: launches through the executable, regions on the host."""

    def __init__(self, exe, dims_syms):
        self.exe = exe
        self.syms = list(dims_syms)

    def run(self, steps, slots, dims, plan):
        env = {s: sympy.Integer(d) for s, d in zip(self.syms, dims)}
        self._steps(steps, slots, dims, plan, env)

    def _steps(self, steps, slots, dims, plan, env):
        for st in steps:
            if st[0] == "launches":
                todo = [plan[i] for i in st[1] if i in plan]
                if todo:
                    self.exe._launch_list(slots, dims, todo)
            else:
                self._region(st[1], st[2], slots, dims, plan, env)

    def _region(self, k, subs, slots, dims, plan, env):
        cuda = _cuda()
        d = cuda._device()
        cu = d.cu

        def dev(b):
            return slots[b.slot]

        def addr(x):
            return int(x.handle)

        def at(a):
            return _Ptr(cu.CUdeviceptr(a))

        def copy(dst, src, nbytes):
            if nbytes and addr(dst) != addr(src):
                cuda._check(cu, cu.cuMemcpyDtoDAsync(dst.handle, src.handle, nbytes, d.stream), "cuMemcpyDtoD")

        def read(x, dtype):
            out = np.zeros(1, dtype)
            cuda._check(cu, cu.cuMemcpyDtoHAsync(out.ctypes.data, x.handle, out.nbytes, d.stream), "cuMemcpyDtoH")
            cuda._check(cu, cu.cuStreamSynchronize(d.stream), "cuStreamSynchronize")
            return out[0]
        tables = {}
        for role, binds in k.bindings.items():
            t = tables[role] = {}
            for slot, (what, x) in binds:
                if what == "buf":
                    t[slot] = dev(x)
        info = k.info
        if k.kind == "scan":
            nc, nk = info["nc"], info["nk"]
            n = _value(info["length"], env)
            init = [dev(b) for b in k.operands[nc:nc + nk]]
            xs = [dev(b) for b in k.operands[nc + nk:]]
            P = [dev(b) for b in k.results[:nk]]
            Q = [dev(b) for b in k.alt]
            ys = [dev(b) for b in k.results[nk:]]
            xr = [_value(r, env) for r in info["x_rows"]]
            yr = [_value(r, env) for r in info["y_rows"]]
            table = tables["body"]
            var = [(s, w) for s, w in k.bindings["body"] if w[0] != "buf"]
            for j, k in info.get("rows", ()) if n > 0 else ():    # row t(0) starts as the initial carry
                t0 = n - 1 if info["reverse"] else 0
                copy(at(addr(ys[k]) + t0 * yr[k]), init[j], _value(info["carry_bytes"][j], env))
            for i in range(n):
                to_p = (n - 1 - i) % 2 == 0
                t = n - 1 - i if info["reverse"] else i
                t_next = t - 1 if info["reverse"] else t + 1
                for slot, (what, j) in var:
                    if what == "carry_src":
                        table[slot] = init[j] if i == 0 else (Q[j] if to_p else P[j])
                    elif what == "carry_dst":
                        table[slot] = P[j] if to_p else Q[j]
                    elif what == "row_src":
                        table[slot] = init[j[0]] if i == 0 else at(addr(ys[j[1]]) + t * yr[j[1]])
                    elif what == "row_dst":
                        table[slot] = P[j[0]] if i == n - 1 else at(addr(ys[j[1]]) + t_next * yr[j[1]])
                    elif what == "x":
                        table[slot] = at(addr(xs[j]) + t * xr[j])
                    else:
                        table[slot] = at(addr(ys[j]) + t * yr[j])
                self._steps(subs["body"], table, dims, plan, env)
            if n <= 0:
                for j in range(nk):
                    copy(P[j], init[j], _value(info["carry_bytes"][j], env))
        elif k.kind == "while_loop":
            nk = info["nk"]
            cur = [dev(b) for b in k.operands[info["ncc"] + info["nbc"]:]]
            P = [dev(b) for b in k.results]
            Q = [dev(b) for b in k.alt]
            flag = dev(k.flag)
            while True:
                for slot, (what, j) in k.bindings["cond"]:
                    if what == "carry_src":
                        tables["cond"][slot] = cur[j]
                self._steps(subs["cond"], tables["cond"], dims, plan, env)
                if not read(flag, np.uint8):
                    break
                dst = [Q[j] if addr(cur[j]) == addr(P[j]) else P[j] for j in range(nk)]
                for slot, (what, j) in k.bindings["body"]:
                    if what == "carry_src":
                        tables["body"][slot] = cur[j]
                    elif what == "carry_dst":
                        tables["body"][slot] = dst[j]
                self._steps(subs["body"], tables["body"], dims, plan, env)
                cur = dst
            for j in range(nk):
                copy(P[j], cur[j], _value(info["carry_bytes"][j], env))
        else:
            b = k.operands[0]
            i = int(read(dev(b), b.dtype.np))
            i = min(max(i, 0), len(subs) - 1)
            role = f"branch{i}"
            self._steps(subs[role], tables[role], dims, plan, env)
