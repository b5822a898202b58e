"""Graph -> Graph passes and the pass manager (see manager.py); one pass family per module."""
from .manager import graph_pass, run_pipeline, PassLog, PassRecord, PassError, GraphPass, pass_name  # noqa: F401
from .fold import fold_constants  # noqa: F401,E402
from .simplify import simplify_algebra  # noqa: F401,E402
from .cse import eliminate_common_subexpressions  # noqa: F401,E402
from .dce import eliminate_dead_code  # noqa: F401,E402
from .regions import optimize_regions  # noqa: F401,E402

# The target-independent passes, in the order backends run them before fusion (optimize_regions runs this
# pipeline inside control-flow regions, after the outer DCE has decided which of their results are read).
GENERIC_PIPELINE = [fold_constants, simplify_algebra, eliminate_common_subexpressions, eliminate_dead_code,
                    optimize_regions]
from .inline import inline_calls, has_calls, remove_barriers, has_barriers  # noqa: F401,E402


def pipeline_for(g):
    """GENERIC_PIPELINE, with inline_calls before it when g holds calls (custom rules, checkpoint) and
    remove_barriers after it when g holds checkpoint's barriers."""
    calls = has_calls(g)
    return ([inline_calls] if calls else []) + GENERIC_PIPELINE + (
        [remove_barriers] if calls or has_barriers(g) else [])
