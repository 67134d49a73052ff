"""Compiled tree ensembles: convert at load time, prove equal to pyfunc, then serve fast.

    compiled = compile_trees(pyfunc_model, columns)   # or NotCompilable(reason)
    report = verify(compiled, pyfunc_model, columns, example)
    if report.ok: predictions = compiled.predict(x)   # x: float64 (n, len(columns))
    # batches above FASTER_UP_TO_ROWS rows are faster through the library's own predict

See docs/compiled-trees.md for the backend choice, the tolerance and the threads.
"""

from warmserve.runtime.trees.compiled import FASTER_UP_TO_ROWS, CompiledTrees, NotCompilable
from warmserve.runtime.trees.compiler import compile_trees
from warmserve.runtime.trees.threads import limit_threads
from warmserve.runtime.trees.verify import Verification, verify

__all__ = [
    "FASTER_UP_TO_ROWS",
    "CompiledTrees",
    "NotCompilable",
    "Verification",
    "compile_trees",
    "limit_threads",
    "verify",
]
