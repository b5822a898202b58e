"""The one timing rule of the benchmarks: the best of `reps` runs after `warm` untimed ones (the minimum is the
least disturbed by other processes on a shared machine). The rule lives in runtime.roofs, which times the roofs."""
from runtime.roofs import best_seconds as _best_seconds


def best_seconds(fn, reps, warm=1):
    return _best_seconds(fn, reps, warm)
