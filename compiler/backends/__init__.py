"""Building and running programs: the layer under cc.compile (compiler/compile) and above codegen.

build.py      Lowered (every stage of one compiled signature), program building, the disk-cache key, the backend
              registry (register_backend)
executable.py Executable: a loaded CPU program and its calling convention (NumPy in, NumPy out)
host.py       host callbacks of a loaded CPU program (cc.debug.print)
profile.py    profiling builds, f.profile()'s Profile, VIVE_PROFILE's process trace
cuda.py       the "cuda" backend: PTX from codegen/ptx.py run through runtime.cuda; cuda_regions.py its control flow

These modules (with compiler/compile) are the only ones of `compiler/` that import `runtime/`.
"""
import os

# NOTE: set before libgomp loads (runtime loads it on first use): idle OpenMP workers spin only briefly (enough
# for back-to-back parallel loops of one call), then sleep instead of stealing a core from BLAS or other threads.
os.environ.setdefault("GOMP_SPINCOUNT", "20000")
