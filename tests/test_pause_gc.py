"""The garbage collector is paused while a program compiles (compiler/compile/pause_gc.py) and restored as it was:
after a compile, after a failed one, with nested and concurrent compiles, and left off when the user had it off."""
import gc
import threading

import numpy as np
import pytest

import compiler as cc
from compiler.compile import pause_gc


def test_off_during_the_compile_and_on_after():
    seen = []

    def f(x):
        seen.append(gc.isenabled())          # runs while tracing
        return x * 2.0
    assert gc.isenabled()
    np.testing.assert_allclose(cc.compile(f)(np.ones(3)), 2.0)
    assert seen == [False] and gc.isenabled()


def test_restored_after_a_failed_compile():
    def bad(x):
        return x.no_such_method()
    with pytest.raises(Exception):
        cc.compile(bad)(np.ones(3))
    assert gc.isenabled()


def test_left_off_when_the_user_had_it_off():
    gc.disable()
    try:
        cc.compile(lambda x: x + 1.0)(np.ones(4))
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_nested_and_concurrent_pauses_restore_once_all_are_out():
    inside, release = threading.Event(), threading.Event()

    def other():
        with pause_gc.paused():
            inside.set()
            release.wait(10)
    t = threading.Thread(target=other)
    t.start()
    inside.wait(10)
    with pause_gc.paused():
        with pause_gc.paused():
            assert not gc.isenabled()
        assert not gc.isenabled()
    assert not gc.isenabled()        # the other thread's compile is still running
    release.set()
    t.join(10)
    assert gc.isenabled()
