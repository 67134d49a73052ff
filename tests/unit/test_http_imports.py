"""The HTTP workers never load the model's libraries: pandas, numpy, pyarrow and mlflow live
only in the model process (a new input form is parsed there, not in the worker)."""

from __future__ import annotations

import subprocess
import sys

MODEL_LIBRARIES = ("pandas", "numpy", "pyarrow", "mlflow", "sklearn")


def test_the_http_worker_imports_no_model_library() -> None:
    code = (
        "import sys, warmserve.http.worker, warmserve.http.app, warmserve.http.scoring, "
        "warmserve.http.openapi; "
        f"print([m for m in {MODEL_LIBRARIES!r} if m in sys.modules])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
