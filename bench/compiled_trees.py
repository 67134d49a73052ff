"""Which backend serves tree ensembles: native predict vs treelite GTIL vs tl2cgen vs ONNX Runtime.

    bash scripts/bootstrap.sh test,trees-bench
    .venv/bin/python bench/compiled_trees.py                 # backends (tables 1 and 2)
    .venv/bin/python bench/compiled_trees.py --threads       # thread limits (table 3)
    .venv/bin/python bench/compiled_trees.py --crossover     # native / compiled time by rows
    .venv/bin/python bench/compiled_trees.py --load          # compile + verify at load

Models: 20 float features, 5,000 training rows, binary labels; RandomForest 200 trees
depth 12 (the issue's model), GradientBoosting 200 x depth 3, HistGradientBoosting 200
iterations, XGBoost and LightGBM 200 trees. Each is saved with its MLflow flavor and
loaded back as a pyfunc model, as the server holds it.

Latency: median of ``--repeats`` calls on 1, 32 and 1,000 rows (taken round-robin
across candidates, so load from other processes hits every candidate alike), single
threaded (threadpoolctl 1, GTIL nthread=1, ORT intra_op_num_threads=1) unless the
threads table says otherwise. "native" is the library's own predict on a DataFrame,
what MLflow's pyfunc calls. Exactness: on the verification rows of
runtime/trees/verify.py (values at, beside and between every threshold) plus 1,000
nudged training rows -- labels that differ from native predict and the largest
probability difference from native predict_proba. Conversion: wall seconds and the
growth of this process's RSS. The machine's cores are shared: compare rows of one run.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from threadpoolctl import threadpool_limits

sys.path.insert(0, str(Path(__file__).resolve().parent))
from procfs import machine_facts, memory

from warmserve.runtime.trees import compile_trees, verify
from warmserve.runtime.trees.probes import threshold_rows, thresholds_by_feature

N_FEATURES = 20
COLUMNS = [f"f{i}" for i in range(N_FEATURES)]
SIZES = (1, 32, 1000)
CROSSOVER_SIZES = (1, 16, 64, 128, 256, 512, 1000)


def rss_mib() -> float:
    found = memory(os.getpid())
    return found.rss_kib / 1024 if found else float("nan")


def training_data() -> tuple[pd.DataFrame, np.ndarray]:
    from sklearn.datasets import make_classification

    X, y = make_classification(n_samples=5000, n_features=N_FEATURES, n_informative=12,
                               random_state=0)  # fmt: skip
    return pd.DataFrame(X, columns=COLUMNS), y


def models() -> dict[str, tuple[Any, Callable[[], Any]]]:
    import lightgbm as lgb
    import mlflow.lightgbm
    import mlflow.sklearn
    import mlflow.xgboost
    import xgboost as xgb
    from sklearn import ensemble

    return {
        "RandomForest 200x12": (mlflow.sklearn, lambda: ensemble.RandomForestClassifier(
            n_estimators=200, max_depth=12, random_state=0)),
        "GradientBoosting 200x3": (mlflow.sklearn, lambda: ensemble.GradientBoostingClassifier(
            n_estimators=200, max_depth=3, random_state=0)),
        "HistGradientBoosting 200": (mlflow.sklearn, lambda: ensemble.
            HistGradientBoostingClassifier(max_iter=200, early_stopping=False, random_state=0)),
        "XGBoost 200x6": (mlflow.xgboost, lambda: xgb.XGBClassifier(n_estimators=200, max_depth=6)),
        "LightGBM 200": (mlflow.lightgbm, lambda: lgb.LGBMClassifier(n_estimators=200, verbose=-1)),
    }  # fmt: skip


def trained(only: str, tmp: Path) -> Iterator[tuple[str, Any, Any]]:
    """(title, fitted estimator, pyfunc model) for each selected model, fitted single-threaded."""
    X, y = training_data()
    for title, (flavor, make) in models().items():
        if not only or only.lower() in title.lower():
            with threadpool_limits(limits=1):
                est = make().fit(X, y)
            yield title, est, save_load(flavor, est, X, tmp / title.replace(" ", "_"))


def save_load(flavor: Any, model: Any, frame: pd.DataFrame, path: Path) -> Any:
    import mlflow.pyfunc
    import mlflow.sklearn
    from mlflow.models import infer_signature

    kw: dict[str, Any] = {}
    if flavor is mlflow.sklearn:
        kw["serialization_format"] = mlflow.sklearn.SERIALIZATION_FORMAT_CLOUDPICKLE
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        flavor.save_model(model, str(path), signature=infer_signature(frame),
                          input_example=frame.head(3), pip_requirements=[], **kw)  # fmt: skip
    return mlflow.pyfunc.load_model(str(path))


# --- candidates: each gives (predict(x) -> (labels, probabilities), facts) ---------------


def two_columns(proba: np.ndarray) -> np.ndarray:
    proba = np.asarray(proba, dtype=np.float64)
    return np.column_stack([1 - proba, proba]) if proba.ndim == 1 else proba


def native(est: Any) -> Callable[[np.ndarray], Any]:
    def predict(x: np.ndarray) -> Any:
        return est.predict(pd.DataFrame(x, columns=COLUMNS))

    return predict


def native_proba(est: Any, x: np.ndarray) -> np.ndarray:
    return two_columns(est.predict_proba(pd.DataFrame(x, columns=COLUMNS)))


def treelite_candidate(pyfunc: Any, est: Any) -> tuple[Callable[[np.ndarray], Any], Any]:
    """warmserve's path: compile_trees on the pyfunc model (labels, as pyfunc predicts)."""
    import treelite.gtil

    compiled = compile_trees(pyfunc, COLUMNS)

    def proba(x: np.ndarray) -> np.ndarray:  # GTIL's own transformed scores, for exactness
        scores = treelite.gtil.predict(compiled.model, compiled.tree_input(x), nthread=1)
        if compiled.margin:  # sklearn boosting: the estimator's loss turns margins to proba
            margins = treelite.gtil.predict(compiled.model, compiled.tree_input(x), nthread=1,
                                            pred_margin=True)  # fmt: skip
            raw = margins[:, 0, :]
            return two_columns(est._loss.predict_proba(raw[:, 0] if raw.shape[1] == 1 else raw))
        return two_columns(scores[:, 0, :] if scores.shape[2] > 1 else scores[:, 0, 0])

    return compiled.predict, proba


def onnx_candidate(est: Any, threads: int = 1) -> tuple[Callable[[np.ndarray], Any], Any]:
    import onnxruntime as ort

    onx = to_onnx(est)
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    session = ort.InferenceSession(onx.SerializeToString(), options,
                                   providers=["CPUExecutionProvider"])  # fmt: skip
    name = session.get_inputs()[0].name

    def run(x: np.ndarray) -> Any:
        return session.run(None, {name: x.astype(np.float32)})

    def proba(x: np.ndarray) -> np.ndarray:
        out = run(x)[1]
        if isinstance(out, list):  # zipmap
            out = np.array([[row[k] for k in sorted(row)] for row in out])
        return two_columns(out)

    return (lambda x: run(x)[0]), proba


def to_onnx(est: Any) -> Any:
    module = type(est).__module__
    if module.startswith("xgboost"):
        from onnxmltools import convert_xgboost
        from onnxmltools.convert.common.data_types import FloatTensorType as F

        return convert_xgboost(est, initial_types=[("x", F([None, N_FEATURES]))])
    if module.startswith("lightgbm"):
        from onnxmltools import convert_lightgbm
        from onnxmltools.convert.common.data_types import FloatTensorType as F

        return convert_lightgbm(est, initial_types=[("x", F([None, N_FEATURES]))],
                                zipmap=False)  # fmt: skip
    from skl2onnx import to_onnx as sk_to_onnx

    return sk_to_onnx(est, np.zeros((1, N_FEATURES), dtype=np.float32),
                      options={id(est): {"zipmap": False}})  # fmt: skip


def tl2cgen_candidate(pyfunc: Any, workdir: Path) -> tuple[Callable[[np.ndarray], Any], Any]:
    import tl2cgen

    compiled = compile_trees(pyfunc, COLUMNS)
    lib = workdir / "model.so"
    tl2cgen.export_lib(compiled.model, toolchain="gcc", libpath=str(lib),
                       params={"parallel_comp": 8}, nthread=2)  # fmt: skip
    predictor = tl2cgen.Predictor(str(lib), nthread=1)

    def proba(x: np.ndarray) -> np.ndarray:
        out = predictor.predict(tl2cgen.DMatrix(compiled.tree_input(x)))
        out = np.asarray(out)
        return two_columns(out.reshape(out.shape[0], -1)[:, -1] if out.shape[-1] <= 2 else out)

    return proba, proba


# --- measuring ---------------------------------------------------------------------------


Timings = dict[str, dict[int, float]]


def latencies(candidates: dict[str, Callable[[np.ndarray], Any]], repeats: int,
              rng: np.random.Generator, pool: np.ndarray,
              sizes: tuple[int, ...] = SIZES) -> Timings:  # fmt: skip
    """Median ms per call, per candidate and row count; candidates interleaved."""
    found: dict[str, dict[int, list[float]]] = {name: {n: [] for n in sizes} for name in candidates}
    for n in sizes:
        rounds = repeats if n < 1000 else max(5, repeats // 10)
        for _ in range(rounds):
            x = pool[rng.integers(0, len(pool), size=n)]
            for name, predict in candidates.items():
                started = time.perf_counter()
                predict(x)
                found[name][n].append((time.perf_counter() - started) * 1e3)
    return {name: {n: statistics.median(v) for n, v in by.items()} for name, by in found.items()}


def exactness(proba: Callable[[np.ndarray], np.ndarray], est: Any, rows: np.ndarray,
              reference: np.ndarray, labels: np.ndarray) -> tuple[int, float]:  # fmt: skip
    got = proba(rows)
    mismatches = int(np.sum(est.classes_[np.argmax(got, axis=1)] != labels))
    return mismatches, float(np.max(np.abs(got - reference)))


def backends(args: argparse.Namespace) -> None:
    rng = np.random.default_rng(1)
    pool = training_data()[0].to_numpy() + rng.normal(scale=0.01, size=(5000, N_FEATURES))
    tmp = Path(tempfile.mkdtemp(prefix="trees-bench-"))
    speed: list[str] = []
    exact: list[str] = []
    for title, est, pyfunc in trained(args.only, tmp):
        one = measure_backends(args, title, est, pyfunc, pool, rng, tmp)
        speed.extend(one[0])
        exact.extend(one[1])
    print(f"machine: {machine_facts()}\n")
    print("| model | backend | 1 row ms | 32 rows ms | 1,000 rows ms | convert s "
          "| RSS +MiB | C compiler |")  # fmt: skip
    print("|---|---|---:|---:|---:|---:|---:|---|")
    print("\n".join(speed))
    print("\n| model | backend | labels differing from native | max prob. diff |")
    print("|---|---|---:|---:|")
    print("\n".join(exact))


def measure_backends(args: argparse.Namespace, title: str, est: Any, pyfunc: Any,
                     pool: np.ndarray, rng: np.random.Generator,
                     tmp: Path) -> tuple[list[str], list[str]]:  # fmt: skip
    compiled = compile_trees(pyfunc, COLUMNS)
    probe = threshold_rows(thresholds_by_feature(compiled.model), 2000, rng)
    rows = np.vstack([probe, pool[:1000] + rng.normal(scale=1e-6, size=(1000, N_FEATURES))])
    labels = native(est)(rows)
    reference = native_proba(est, rows)
    candidates: dict[str, Callable[[np.ndarray], Any]] = {"native": native(est)}
    facts: dict[str, tuple[float, float, str]] = {"native": (0.0, 0.0, "-")}
    exact: list[str] = []
    builders = {
        "treelite GTIL": (lambda: treelite_candidate(pyfunc, est), "no"),
        "ONNX Runtime": (lambda: onnx_candidate(est), "no"),
        "tl2cgen (gcc)": (lambda: tl2cgen_candidate(pyfunc, tmp), "yes (gcc at load)"),
    }
    if args.skip_tl2cgen:
        del builders["tl2cgen (gcc)"]
    for name, (build, compiler) in builders.items():
        before, started = rss_mib(), time.perf_counter()
        try:
            predict, proba = build()
        except Exception as exc:  # a converter that cannot take this model is a finding
            exact.append(f"| {title} | {name} | conversion failed: {exc!r:.80} | |")
            continue
        seconds, grown = time.perf_counter() - started, rss_mib() - before
        candidates[name] = predict
        facts[name] = (seconds, grown, compiler)
        wrong, diff = exactness(proba, est, rows, reference, labels)
        exact.append(f"| {title} | {name} | {wrong} of {len(rows)} | {diff:.2g} |")
    with threadpool_limits(limits=1):
        timing = latencies(candidates, args.repeats, rng, pool)
    speed = []
    for name, by in timing.items():
        seconds, grown, compiler = facts[name]
        cells = " | ".join(f"{by[n]:.3f}" for n in SIZES)
        speed.append(f"| {title} | {name} | {cells} | {seconds:.2f} | {grown:.0f} | {compiler} |")
    return speed, exact


def threads(args: argparse.Namespace) -> None:
    """Median ms of native predict and of each backend under thread limits 1 and 2."""
    rng = np.random.default_rng(2)
    pool = training_data()[0].to_numpy()
    lines: list[str] = []
    for title, est, pyfunc in trained(args.only, Path(tempfile.mkdtemp(prefix="trees-"))):
        lines.extend(measure_threads(args, title, est, pyfunc, pool, rng))
    print(f"machine: {machine_facts()}\n")
    print("| model | predictor, threads | 1 row ms | 1,000 rows ms |")
    print("|---|---|---:|---:|")
    print("\n".join(lines))


def measure_threads(args: argparse.Namespace, title: str, est: Any, pyfunc: Any,
                    pool: np.ndarray, rng: np.random.Generator) -> list[str]:  # fmt: skip
    compiled = compile_trees(pyfunc, COLUMNS)

    def native_run(limit: int | None) -> Timings:
        with threadpool_limits(limits=limit):
            return latencies({"n": native(est)}, args.repeats, rng, pool, (1, 1000))

    def gtil_run(limit: int | None) -> Timings:
        compiled.threads = limit or -1
        return latencies({"n": compiled.predict}, args.repeats, rng, pool, (1, 1000))

    def ort_run(limit: int | None) -> Timings:
        predict, _ = onnx_candidate(est, threads=limit or 0)
        return latencies({"n": predict}, args.repeats, rng, pool, (1, 1000))

    lines = []
    for label, run in (("native, threadpoolctl", native_run),
                       ("treelite GTIL, nthread", gtil_run),
                       ("ONNX Runtime, intra_op", ort_run)):  # fmt: skip
        for limit in (1, 2):
            try:
                by = run(limit)["n"]
            except Exception as exc:
                lines.append(f"| {title} | {label} {limit or 'default'} | failed: {exc!r:.60} | |")
                continue
            lines.append(f"| {title} | {label} {limit or 'default'} | {by[1]:.3f} "
                         f"| {by[1000]:.2f} |")  # fmt: skip
    return lines


def crossover(args: argparse.Namespace) -> None:
    """Native predict vs the compiled path (both single-threaded) over batch sizes."""
    rng = np.random.default_rng(3)
    pool = training_data()[0].to_numpy()
    lines: list[str] = []
    for title, est, pyfunc in trained(args.only, Path(tempfile.mkdtemp(prefix="trees-"))):
        with threadpool_limits(limits=1):
            candidates = {"native": native(est), "compiled": compile_trees(pyfunc, COLUMNS).predict}
            by = latencies(candidates, args.repeats, rng, pool, CROSSOVER_SIZES)
        ratios = " | ".join(f"{by['native'][n] / by['compiled'][n]:.2f}" for n in CROSSOVER_SIZES)
        lines.append(f"| {title} | {ratios} |")
    print(f"machine: {machine_facts()}\n")
    print("| model | " + " | ".join(f"{n} rows" for n in CROSSOVER_SIZES) + " |")
    print("|---|" + "---:|" * len(CROSSOVER_SIZES))
    print("\n".join(lines))


def load_cost(args: argparse.Namespace) -> None:
    """What compiling and verifying cost at load, and how many leaves verification reaches."""
    lines = []
    for title, _, pyfunc in trained(args.only, Path(tempfile.mkdtemp(prefix="trees-"))):
        started = time.perf_counter()
        compiled = compile_trees(pyfunc, COLUMNS)
        compiled_at = time.perf_counter()
        report = verify(compiled, pyfunc, COLUMNS, pyfunc.input_example)
        verified_at = time.perf_counter()
        seconds = f"{compiled_at - started:.2f} | {verified_at - compiled_at:.2f}"
        facts = f"{report.ok} | {report.rows_checked} | {report.leaf_coverage:.1%}"
        lines.append(f"| {title} | {seconds} | {facts} |")
    print(f"machine: {machine_facts()}\n")
    print("| model | compile s | verify s | ok | rows checked | leaves reached |")
    print("|---|---:|---:|---|---:|---:|")
    print("\n".join(lines))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--threads", action="store_true", help="the thread-limit table")
    parser.add_argument("--crossover", action="store_true", help="native / compiled by rows")
    parser.add_argument("--load", action="store_true", help="compile + verify cost at load")
    parser.add_argument("--repeats", type=int, default=200, help="calls per size (1,000: /10)")
    parser.add_argument("--only", default="", help="models whose title contains this")
    parser.add_argument("--skip-tl2cgen", action="store_true", help="no gcc compile step")
    args = parser.parse_args()
    if args.threads:
        threads(args)
    elif args.crossover:
        crossover(args)
    elif args.load:
        load_cost(args)
    else:
        backends(args)


if __name__ == "__main__":
    main()
