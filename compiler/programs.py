"""The process-wide table of compiled programs: wrapping the same function again (`cc.compile(fn)(x)` in a loop,
a fresh `cc.compile(loss)` per experiment) reuses what was compiled instead of compiling and loading it again.

A program is found by a hash of its traced graph's text, source lines included (so error messages still name the
right line), its pytree structures, name, backend and backend options. The table holds the most recently used
programs strongly (a small LRU) and every other one weakly: a program that no live compiled function uses is freed
(its machine code and buffers with it, see runtime/jit.py) once it drops out of the LRU.
"""
from __future__ import annotations

import hashlib
import threading
import weakref
from collections import OrderedDict

from .ir.printer import print_graph

RECENT = 16            # programs kept alive with no function using them: a re-wrap loop needs one


class ProgramTable:
    """key -> Lowered (with its .executable); get/put are thread safe and cheap next to a trace."""

    def __init__(self, recent: int = RECENT):
        self.recent = recent
        self._lru: OrderedDict = OrderedDict()
        self._live = weakref.WeakValueDictionary()
        self._lock = threading.Lock()
        self.hits = self.misses = 0

    @staticmethod
    def key(graph, name, backend, options, env="") -> str:
        """env: the facts about this process the code depends on (target, BLAS, cache sizes: see backends/build.py)."""
        h = hashlib.sha256()
        # NOTE: anything that changes the compiled code or what it reports must be in here: a new compile option
        # or a fact recorded beside the graph (guards on symbolic sizes) too
        for part in (print_graph(graph, locs=True), repr(graph.in_tree), repr(graph.out_tree), str(name),
                     str(backend), repr(sorted(options.items())), repr(getattr(graph, "guards", None)), env):
            b = part.encode()
            h.update(len(b).to_bytes(8, "little"))
            h.update(b)
        return h.hexdigest()

    def get(self, key):
        with self._lock:
            low = self._lru.get(key)
            if low is None:
                low = self._live.get(key)
            if low is None:
                self.misses += 1
                return None
            self.hits += 1
            self._remember(key, low)
            return low

    def put(self, key, low) -> None:
        with self._lock:
            self._live[key] = low
            self._remember(key, low)

    def _remember(self, key, low):
        self._lru[key] = low
        self._lru.move_to_end(key)
        while len(self._lru) > self.recent:
            self._lru.popitem(last=False)

    def info(self) -> dict:
        """{'hits', 'misses', 'recent' (held strongly), 'live' (still in use somewhere)}."""
        with self._lock:
            return {"hits": self.hits, "misses": self.misses, "recent": len(self._lru), "live": len(self._live)}

    def clear(self) -> None:
        """Forget every program (functions that use one keep it)."""
        with self._lock:
            self._lru.clear()
            self._live.clear()


PROGRAMS = ProgramTable()


def program_cache_info() -> dict:
    """Hits and misses of the process-wide program table, and how many programs it holds."""
    return PROGRAMS.info()


def clear_program_cache() -> None:
    PROGRAMS.clear()
