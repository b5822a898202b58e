"""Chrome trace-event JSON (the format ui.perfetto.dev and chrome://tracing read): a thread-safe timeline of spans.

Times are nanoseconds of CLOCK_MONOTONIC (time.perf_counter_ns() on Linux, and what profiling builds of compiled
programs read natively), written as microseconds from the timeline's origin. One track per (pid, tid).

    tl = Timeline()
    t0 = time.perf_counter_ns(); work(); tl.span("work", t0, time.perf_counter_ns(), cat="user")
    tl.save("trace.json")             # {"traceEvents": [{"ph": "X", "ts": ..., "dur": ..., ...}, ...]}
"""
from __future__ import annotations

import json
import os
import threading
import time


class Timeline:
    """Spans (complete events, ph 'X') and counters, appended from any thread; names each track once."""

    def __init__(self, origin_ns: int | None = None, process_name: str | None = None):
        self.origin_ns = time.perf_counter_ns() if origin_ns is None else int(origin_ns)
        self.pid = os.getpid()
        self._events: list[dict] = []
        self._threads: dict[int, str] = {}
        self._lock = threading.Lock()
        self.process_name = process_name

    def _us(self, t_ns):
        return (t_ns - self.origin_ns) / 1000.0

    def span(self, name: str, start_ns: int, end_ns: int, *, cat: str = "", tid: int | None = None,
             args: dict | None = None, thread_name: str | None = None) -> None:
        """One span [start_ns, end_ns) on thread `tid` (default: the calling thread's native id)."""
        tid = threading.get_native_id() if tid is None else int(tid)
        ev = {"name": name, "ph": "X", "ts": self._us(start_ns), "dur": max(0, end_ns - start_ns) / 1000.0,
              "pid": self.pid, "tid": tid}
        if cat:
            ev["cat"] = cat
        if args:
            ev["args"] = args
        with self._lock:
            self._events.append(ev)
            if tid not in self._threads:
                self._threads[tid] = thread_name or _thread_name(tid)

    def counter(self, name: str, t_ns: int, values: dict) -> None:
        with self._lock:
            self._events.append({"name": name, "ph": "C", "ts": self._us(t_ns), "pid": self.pid,
                                 "args": dict(values)})

    def extend(self, events) -> None:
        """Events already in trace-event form (e.g. from another Timeline's .events())."""
        with self._lock:
            self._events.extend(events)

    def events(self) -> list[dict]:
        """Every event, metadata (process and thread names) first."""
        with self._lock:
            evs = list(self._events)
            threads = dict(self._threads)
        meta = []
        if self.process_name:
            meta.append({"name": "process_name", "ph": "M", "pid": self.pid, "args": {"name": self.process_name}})
        for tid, name in sorted(threads.items()):
            meta.append({"name": "thread_name", "ph": "M", "pid": self.pid, "tid": tid, "args": {"name": name}})
        return meta + evs

    def to_json(self) -> dict:
        return {"traceEvents": self.events(), "displayTimeUnit": "ms"}

    def save(self, path) -> str:
        """Write the trace (atomically: a reader never sees half a file); returns the path."""
        path = os.fspath(path)
        tmp = f"{path}.{os.getpid()}.tmp"
        with open(tmp, "w") as f:
            json.dump(self.to_json(), f, separators=(",", ":"))
        os.replace(tmp, path)
        return path

    def __len__(self):
        return len(self._events)


def _thread_name(tid):
    for t in threading.enumerate():
        if getattr(t, "native_id", None) == tid:
            return t.name
    return f"thread {tid}"
