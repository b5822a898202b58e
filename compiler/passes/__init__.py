"""Graph -> Graph passes and the pass manager (see manager.py); one pass family per module."""
from .manager import graph_pass, run_pipeline, PassLog, PassRecord, PassError, GraphPass, pass_name  # noqa: F401
