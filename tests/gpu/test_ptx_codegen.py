"""PTX code generation without a GPU: the thread mapping each kernel shape gets (ptx_plan), the PTX structure that
matters (entries, parameters, shared memory and barriers for reductions and matmuls, grid-stride loops, symbolic
dims as parameters, the target arch), errors that name the kernel, and BackendError when there is no device."""
from __future__ import annotations

import re

import numpy as np
import pytest
import sympy

import compiler as cc
from compiler.codegen import ptx_support as px
from compiler.codegen.ptx import generate
from compiler.codegen.ptx_plan import injective
from compiler.ir.types import F32, I64
from compiler.ir.kernel import Buffer, Const, IndexValue, Ix, Kernel, Load, Loop, Op, Program, Store


def lower(fn, *args, **kw):
    return cc.compile(fn, backend="cuda", **kw).lower(*args)


def entry_text(ptx, name):
    m = re.search(r"\.visible \.entry " + name + r"\((.*?)\n\}", ptx, re.S)
    assert m, f"no .entry {name}"
    return m.group(0)


def params_of(text):
    return re.findall(r"\.param \.u64( \.ptr \.global)? ", text.split(")", 1)[0])


def test_elementwise_is_one_grid_stride_entry_with_symbolic_size_param():
    low = lower(lambda x, y: np.tanh(x * 2.0 + y) * np.exp(-x), cc.Spec("f32[N,8]"), cc.Spec("f32[8]"))
    (lc,) = low.launches
    assert lc.kind == "flat" and lc.work == sympy.Symbol("N", positive=True, integer=True) * 8
    ptx = low.ptx()
    assert ".target sm_80" in ptx and ".address_size 64" in ptx
    text = entry_text(ptx, lc.entry)
    p = params_of(text)
    assert [bool(x) for x in p] == [True, True, True, False]      # x, y, out as .global pointers, then N
    assert "%nctaid.x" in text and "%tid.x" in text               # grid-stride
    assert "ld.global.nc" in text                                 # read-only inputs through the non-coherent cache
    assert ".shared" not in text and "bar.sync" not in text
    assert "ex2.approx.f32" in text and "call" not in text        # math inline, no libdevice
    px.assemble(ptx, "sm_80")


def test_arch_option_sets_target():
    low = lower(lambda x: x * 3.0, np.ones(5, np.float32), arch="sm_90")
    assert ".target sm_90" in low.ptx()
    assert ".target sm_80" in low.ptx("sm_80")
    px.assemble(low.ptx(), "sm_90")
    with pytest.raises(cc.BackendError, match="backend='cuda'"):
        cc.compile(lambda x: x, arch="sm_90")


def test_long_rows_reduce_with_a_block_per_row_shuffles_and_shared_memory():
    low = lower(lambda x: np.log(np.sum(np.exp(x), axis=-1)), cc.Spec("f32[N,M]"))
    (lc,) = low.launches
    assert lc.kind == "rows" and lc.block == 256 and lc.threads == ["i0"]
    text = entry_text(low.ptx(), lc.entry)
    assert len(params_of(text)) == 4                              # x, out, M, N
    # a row of symbolic length may be long, so its f32 sum accumulates in f64 (lower/accum.py): one f64 per warp
    # (up to 32 warps) in shared memory, each butterfly step (16, 8, 4, 2, 1) two 32-bit shuffles
    assert re.search(r"\.shared \.align \d+ \.b8 \S+\[256\]", text)
    assert text.count("shfl.sync.bfly.b32") == 10
    assert text.count("bar.sync") == 2


def test_short_rows_get_one_thread_each_and_argmax_compiles():
    low = lower(lambda x: (x.max(axis=-1), np.argmax(x, axis=-1)), np.ones((300, 7), np.float32))
    assert [lc.kind for lc in low.launches] == ["flat"]
    text = low.ptx()
    assert "bar.sync" not in text and ".shared" not in text


def test_row_argmax_over_long_rows_merges_value_and_index_across_the_block():
    low = lower(lambda x: np.argmax(x, axis=-1), np.ones((4, 5000), np.float32))
    (lc,) = low.launches
    assert lc.kind == "rows"
    text = low.ptx()
    assert text.count(".shared") >= 2                             # values and indices per warp
    px.assemble(text, "sm_90")


def test_column_reduction_maps_threads_to_the_kept_axis():
    low = lower(lambda x: x.sum(axis=0), np.ones((1000, 24), np.float32))
    # a few columns and a long reduced axis: a block per column, the axis split across its threads; one block
    # covers a column, so it stores the sum and the output needs no zeroing first
    (lc,) = low.launches
    assert lc.kind == "rows" and len(lc.threads) == 1 and lc.overwrite
    st, collapse, value = lc.reduce_into
    assert [e for _, e in collapse] == [1000]
    # many short columns: one thread per column, the reduced axis inside it
    low = lower(lambda x: x.sum(axis=0), np.ones((8, 20000), np.float32))
    assert low.launches[0].kind == "flat"                          # zero the output
    lc = low.launches[-1]
    assert lc.kind == "flat" and len(lc.threads) == 1
    (body,) = lc.body
    assert isinstance(body, Loop) and body.extent == 8


def test_whole_array_reduction_is_one_block():
    low = lower(lambda x: np.mean(x * x), cc.Spec("f32[N]"))
    (lc,) = low.launches
    assert lc.kind == "rows" and lc.work == 1 and lc.block == 512 and lc.threads == []
    assert "bar.sync" in low.ptx()


def test_matmul_is_tiled_through_shared_memory_with_its_epilogue_next():
    low = lower(lambda a, b: np.tanh(a @ b + 1.0), cc.Spec("f32[M,K]"), cc.Spec("f32[K,N]"))
    kinds = [lc.kind for lc in low.launches]
    assert kinds[0] == "gemm" and "flat" in kinds[1:]
    gemm = low.launches[0]
    assert gemm.block == 256 and (gemm.work, gemm.work_yz[0]) == (sympy.Symbol("N", positive=True, integer=True),
                                                                  sympy.Symbol("M", positive=True, integer=True))
    text = entry_text(low.ptx(), gemm.entry)
    shared = re.findall(r"\.shared \.align \d+ \.b8 \S+\[(\d+)\]", text)
    assert sorted(map(int, shared)) == [8 * 132 * 4, 8 * 132 * 4]   # A and B tiles, rows padded by 4
    assert text.count("bar.sync") == 2 and "fma.rn.f32" in text
    assert "%ctaid.y" in text and "%nctaid.y" in text


def test_batched_matmul_runs_batches_on_grid_z():
    low = lower(lambda a, b: a @ b, np.ones((3, 20, 30), np.float32), np.ones((3, 30, 10), np.float32))
    gemms = [lc for lc in low.launches if lc.kind == "gemm"]
    assert gemms and gemms[0].batch is not None and gemms[0].work_yz == (20, 3)
    assert "%ctaid.z" in entry_text(low.ptx(), gemms[0].entry)


def test_cpu_lowered_function_gives_ptx_too():
    low = cc.compile(lambda x: np.sin(x) + 1).lower(np.ones(10, np.float32))
    ptx = low.ptx()
    assert ".visible .entry" in ptx and ".target sm_80" in ptx
    px.assemble(ptx, "sm_80")


def test_float64_math_has_no_approximate_instructions():
    low = lower(lambda x: np.exp(x) + np.tanh(x) + np.log(np.abs(x) + 1), np.ones(10))
    text = low.ptx()
    assert ".f64" in text and ".approx" not in text


def _program(body, bufs, dims=()):
    k = Kernel("k0_test", "loop", body)
    inputs = [b for b in bufs if b.role == "input"]
    return Program("p", inputs, [("buf", b) for b in bufs if b.role == "output"], bufs, [k], list(dims), {})


def test_unknown_scalar_op_names_the_kernel():
    x, y = Buffer("x", F32, (4,), "input"), Buffer("y", F32, (4,), "output")
    body = [Loop("i", 4, [Store(y, Ix.var("i"), Op("lgamma", [Load(x, Ix.var("i"))], F32))], True)]
    with pytest.raises(cc.BackendError, match=r"ptx: no instruction for scalar op 'lgamma' .* kernel k0_test"):
        generate(_program(body, [x, y]))


def test_unprovable_store_index_falls_back_to_one_thread():
    x, y = Buffer("x", F32, (4,), "input"), Buffer("y", F32, (4,), "output")
    idx = Op("mod", [IndexValue(Ix.var("i").add(1)), Const(4, I64)], I64)      # not affine
    body = [Loop("i", 4, [Store(y, idx, Load(x, Ix.var("i")))], False)]
    gp = generate(_program(body, [x, y]))
    assert [lc.kind for lc in gp.launches] == ["serial"]
    px.assemble(gp.ptx(), "sm_80")


def test_injectivity_of_affine_indices():
    n = sympy.Symbol("N", positive=True, integer=True)
    assert injective(Ix((("i", 128), ("j", 1))), {"i": 16, "j": 128})
    assert not injective(Ix((("i", 64), ("j", 1))), {"i": 16, "j": 128})
    assert injective(Ix((("i", n), ("j", 1))), {"i": 5, "j": n})
    assert injective(Ix((("i", 128 * n), ("j", n), ("k", 1))), {"i": 3, "j": 128, "k": n})
    assert not injective(Ix((("i", n), ("j", 1))), {"i": 5, "j": n + 1})
    assert not injective(Ix((("i", -1),)), {"i": 3})


def test_calling_without_a_device_raises_backend_error_and_ptx_still_works():
    ok, why = cc.cuda.available()
    if ok:
        pytest.skip(f"a device is present ({why})")
    f = cc.compile(lambda x: x + 1, backend="cuda")
    with pytest.raises(cc.BackendError, match=r"(?s)cuda: .*CUDA.*\.ptx\(\)"):
        f(np.ones(3, np.float32))
    assert ".entry" in f.lower(np.ones(3, np.float32)).ptx()
    with pytest.raises(cc.BackendError):
        cc.cuda.to_device(np.ones(3))


def test_unknown_backend_is_refused():
    with pytest.raises(cc.BackendError, match="unknown backend"):
        cc.compile(lambda x: x, backend="tpu")


_PTX_CHILD = r"""
import json, sys, time
import numpy as np, compiler as cc
low = cc.compile(lambda x, y: np.tanh(x @ y) + 1.0, backend="cuda", arch=sys.argv[1]).lower(
    np.ones((64, 32), np.float32), np.ones((32, 16), np.float32))
text = low.ptx()
print(json.dumps({"hit": low.timings["ptx_cache_hit"], "ptx": text}))
"""


def test_ptx_comes_from_the_disk_cache_in_a_later_process(tmp_path):
    # LLVM's NVPTX step (0.15-1.5 s a program) runs once: a second process reads the same PTX from the cache; another
    # arch is another entry; a damaged entry is compiled anew (with a warning) and replaced
    import json
    import os
    import subprocess
    import sys
    env = dict(os.environ, VIVE_CACHE_DIR=str(tmp_path))

    def run(arch):
        r = subprocess.run([sys.executable, "-c", _PTX_CHILD, arch], capture_output=True, text=True, env=env,
                           timeout=300)
        assert r.returncode == 0, r.stderr
        return json.loads(r.stdout.strip().splitlines()[-1]), r.stderr
    first, _ = run("sm_80")
    second, _ = run("sm_80")
    assert not first["hit"] and second["hit"] and second["ptx"] == first["ptx"]
    assert ".target sm_80" in second["ptx"]
    other, _ = run("sm_90")
    assert not other["hit"] and ".target sm_90" in other["ptx"]
    entries = sorted(tmp_path.rglob("*.vo"))
    assert len(entries) == 2
    for e in entries:
        data = bytearray(e.read_bytes())
        data[-10] ^= 0xFF
        e.write_bytes(bytes(data))
    again, err = run("sm_80")
    assert not again["hit"] and again["ptx"] == first["ptx"] and "damaged" in err
    assert run("sm_80")[0]["hit"]
