"""The layering of compiler/: every import (module-level and inside functions) points down the layer order, the
modules import each other without cycles, and runtime/ never imports compiler/.

Read with `ast`, not by importing: an import inside a function counts as much as one at the top. Implicit imports
of parent packages (importing compiler.ir.graph runs compiler/__init__.py) are not edges; an explicit
`import compiler` or `from .. import x` is.
"""
import ast
import fnmatch
import os
from collections import defaultdict

import networkx as nx
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# Lowest first. A module may import modules of its own layer (without cycles) and of the layers below it.
LAYERS = [
    ("bottom", ["compiler.errors", "compiler.debug", "compiler.version", "compiler.lazy"]),
    ("base", ["compiler.guards", "compiler.inputs", "compiler.pytree", "compiler.calling", "compiler.random_guard",
              "compiler.array_ctor", "compiler.assert_site", "compiler.value_guard", "compiler.roofline", "compiler.saving", "compiler.data", "compiler.scipy_wrap"]),
    ("ir", ["compiler.ir", "compiler.ir.*"]),
    ("primitives", ["compiler.primitives", "compiler.primitives.*"]),
    ("trace", ["compiler.trace"]),
    ("ops", ["compiler.ops", "compiler.ops_*", "compiler.complex_*", "compiler.random", "compiler.special", "compiler.debug_print"]),
    ("transforms", ["compiler.transforms", "compiler.transforms.*"]),
    ("library", ["compiler.control", "compiler.control.*", "compiler.nn", "compiler.nn.*", "compiler.optim",
                 "compiler.special_fns", "compiler.bessel", "compiler.stats", "compiler.signal"]),
    ("passes", ["compiler.passes", "compiler.passes.*"]),
    ("lower", ["compiler.lower", "compiler.lower.*"]),
    ("codegen", ["compiler.codegen", "compiler.codegen.*"]),
    ("backends", ["compiler.backends", "compiler.backends.*"]),
    ("compile", ["compiler.compile", "compiler.compile.*", "compiler.programs"]),
    ("api", ["compiler", "compiler.dump", "compiler.dump_html", "compiler.cli", "compiler.distributed"]),
]

# The layers whose modules may import runtime/ (building and running programs).
RUNTIME_USERS = {"backends", "compile"}

# Imports that close a cycle on purpose, each with its reason. Every one is made inside a function, at call time.
ALLOWED = {
    ("compiler.primitives.rules", "compiler.primitives.shape"):
        "the rule vocabulary's helpers (zeros, unbroadcast, broadcast_like, ...) are built from shape primitives, "
        "whose own rules are written in the vocabulary",
    ("compiler.primitives.rules", "compiler.primitives.reduce"): "as above: unbroadcast sums with reduce_sum",
    ("compiler.primitives.rules", "compiler.primitives.misc"): "as above: zeros of a scalar is a const",
    ("compiler.primitives.shape", "compiler.primitives.reduce"):
        "broadcast_in_dim and reduce_sum transpose to each other: each family's rules name the other's primitive",
    ("compiler.passes.regions", "compiler.passes"):
        "recursion: optimize_regions runs the pass pipeline (which holds it) on every region's body",
    ("compiler.lower.regions", "compiler.lower.lowering"):
        "recursion: a region kernel's sub-programs are lowered by the lowering that meets the region",
    ("compiler.ir.kernel", "compiler.ir.kernel_print"):
        "the kernel IR's __str__ calls its printer, split out of the same module for size",
}


def _modules(package):
    mods = {}
    top = os.path.join(ROOT, package)
    for d, dirs, files in os.walk(top):
        dirs[:] = sorted(x for x in dirs if not x.startswith((".", "__")))
        for f in sorted(files):
            if f.endswith(".py"):
                path = os.path.join(d, f)
                name = os.path.relpath(path, ROOT)[:-3].replace(os.sep, ".")
                mods[name[:-len(".__init__")] if name.endswith(".__init__") else name] = path
    return mods


def _imports(name, path, known):
    """(target module, line, inside a function) for every import in the file."""
    is_pkg = path.endswith("__init__.py")
    pkg = name if is_pkg else name.rpartition(".")[0]
    tree = ast.parse(open(path).read(), path)
    lazy = {id(n) for f in ast.walk(tree) if isinstance(f, (ast.FunctionDef, ast.AsyncFunctionDef))
            for n in ast.walk(f)}
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [(a.name, node.lineno, id(node) in lazy) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = pkg.split(".")
                base = base[:len(base) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            for a in node.names:
                sub = f"{target}.{a.name}"
                out.append((sub if sub in known else target, node.lineno, id(node) in lazy))
    return out


def _edges(package, known):
    """({module: {target: line}}, {(module, target) imported at module level})."""
    edges, eager = defaultdict(dict), set()
    for name, path in _modules(package).items():
        for target, line, in_function in _imports(name, path, known):
            # `import a.b.c` names a.b.c; a name that is not a module of ours (numpy, llvmlite) is skipped
            while target and target not in known:
                target = target.rpartition(".")[0] if target.startswith(("compiler.", "runtime.")) else ""
            if target and target != name:
                edges[name].setdefault(target, line)
                if not in_function:
                    eager.add((name, target))
    return edges, eager


COMPILER = _modules("compiler")
RUNTIME = _modules("runtime")
KNOWN = set(COMPILER) | set(RUNTIME)
EDGES, EAGER = _edges("compiler", KNOWN)


def layer_of(mod):
    hits = [i for i, (_, pats) in enumerate(LAYERS) if any(fnmatch.fnmatchcase(mod, p) for p in pats)]
    return hits


def test_every_module_has_one_layer():
    bad = {m: [LAYERS[i][0] for i in layer_of(m)] for m in COMPILER if len(layer_of(m)) != 1}
    assert not bad, (f"modules in no layer or in several: {bad}; place each in LAYERS of tests/test_layering.py "
                     f"(lowest layer first)")


def test_no_import_points_up():
    up = []
    for src, targets in sorted(EDGES.items()):
        for dst, line in sorted(targets.items()):
            if dst in COMPILER and (src, dst) not in ALLOWED:
                (ls,), (ld,) = layer_of(src), layer_of(dst)
                if ld > ls:
                    up.append(f"{COMPILER[src]}:{line}: {src} ({LAYERS[ls][0]}) imports {dst} ({LAYERS[ld][0]})")
    assert not up, "imports pointing up the layer order:\n" + "\n".join(up)


def test_no_import_cycles():
    g = nx.DiGraph()
    for src, targets in EDGES.items():
        for dst in targets:
            if dst in COMPILER and (src, dst) not in ALLOWED:
                g.add_edge(src, dst)
    cycles = [sorted(c) for c in nx.strongly_connected_components(g) if len(c) > 1]
    msg = []
    for c in cycles:
        cycle = nx.find_cycle(g.subgraph(c))
        msg.append(" -> ".join([e[0] for e in cycle] + [cycle[0][0]]) + f"  (cycle among {len(c)} modules: {c})")
    assert not cycles, "import cycles:\n" + "\n".join(msg)


def test_allowed_exceptions_are_still_needed_and_lazy():
    """An exception no import uses any more is deleted, so the list stays the truth; and each is made at call time
    (a module-level import would make the cycle an import-order hazard)."""
    stale = [k for k in ALLOWED if k[1] not in EDGES.get(k[0], {})]
    assert not stale, f"ALLOWED lists imports that no longer exist: {stale}"
    eager = sorted(k for k in ALLOWED if k in EAGER)
    assert not eager, f"ALLOWED imports made at module level: {eager}"


def test_runtime_never_imports_compiler():
    bad = []
    for name, path in RUNTIME.items():
        for target, line, _ in _imports(name, path, KNOWN):
            if target == "compiler" or target.startswith("compiler."):
                bad.append(f"{path}:{line}: {name} imports {target}")
    assert not bad, "\n".join(bad)


def test_only_backends_and_compile_import_runtime():
    bad = [f"{COMPILER[src]}:{line}: {src} imports {dst}"
           for src, targets in sorted(EDGES.items()) for dst, line in sorted(targets.items())
           if dst in RUNTIME and LAYERS[layer_of(src)[0]][0] not in RUNTIME_USERS]
    assert not bad, "runtime/ is used only where programs are built and run:\n" + "\n".join(bad)


def test_debug_imports_nothing_of_the_compiler():
    """debug.py is the bottom: the modules above install what it needs (debug.install)."""
    assert [d for d in EDGES.get("compiler.debug", {}) if d in COMPILER] == []


@pytest.mark.parametrize("src,dst,expect", [
    ("compiler.ir.graph", "compiler.ir.printer", False),
    ("compiler.primitives.base", "compiler.trace", False),
    ("compiler.codegen.llvm", "compiler.compile", False),
])
def test_the_walk_sees_what_it_should(src, dst, expect):
    """The checker itself: known edges are found (a walk that finds nothing would pass every test above)."""
    assert (dst in EDGES.get(src, {})) is expect
    assert "compiler.ir.graph" in EDGES["compiler.ir.printer"]            # module level
    assert "compiler.lower.lowering" in EDGES["compiler.lower.regions"]    # inside a function
    assert ("compiler.lower.regions", "compiler.lower.lowering") not in EAGER
    assert ("compiler.ir.printer", "compiler.ir.graph") in EAGER
    assert "compiler.primitives" in EDGES["compiler.ops"]                  # `from . import primitives as P`
