"""The one timing rule of the benchmarks: the best of `reps` runs after `warm` untimed ones (the minimum is the
least disturbed by other processes on a shared machine)."""
import time


def best_seconds(fn, reps, warm=1):
    for _ in range(warm):
        fn()
    best = float("inf")
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best
