import os
import sys

_TESTS = os.path.dirname(os.path.abspath(__file__))
# tests/ holds helpers.py; the repo root goes before it so `runtime` is the package, not tests/runtime/
sys.path.insert(0, _TESTS)
sys.path.insert(0, os.path.dirname(_TESTS))
os.environ.setdefault("VIVE_DEBUG", "1")   # verify the graph after every pass in tests
