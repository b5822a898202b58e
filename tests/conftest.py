import os
import sys

sys.path.insert(0, os.path.dirname(__file__))
os.environ.setdefault("VIVE_DEBUG", "1")   # verify the graph after every pass in tests
