"""The trainer with the real parts: a real `mlflow server`, a real API, a real trainer.

Data lands, a version is registered, the gate decides, the alias moves (or not), the
API serves the new version while clients keep predicting; bad inputs and a kill -9
mid-training never break it.
"""

from __future__ import annotations

import json
import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from mlflow import MlflowClient

from support import (
    CHURN_ROW,
    ROOT,
    Load,
    MlflowServer,
    Server,
    Trainer,
    churn_csv,
    drop_file,
    registered_versions,
    wait_until,
)

pytestmark = pytest.mark.slow
TOKEN = "trainer-test-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
RESULTS = ROOT / "bench" / "results"


@pytest.fixture(scope="module")
def mlflow_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MlflowServer]:
    server = MlflowServer(tmp_path_factory.mktemp("mlflow-server"))
    yield server
    server.stop()


def test_data_to_serving_and_a_worse_model_held_back(
    mlflow_server: MlflowServer, tmp_path: Path
) -> None:
    evaluation = tmp_path / "eval.csv"
    evaluation.write_bytes(churn_csv(400, seed=99))
    remote = {"MLFLOW_TRACKING_URI": mlflow_server.url, "WARMSERVE_ADMIN_TOKEN": TOKEN}
    api = Server(
        tmp_path / "api", "--model", "models:/churn@production", "--poll-interval", "60",
        "--load-retry-interval", "60", env=remote,
    )  # fmt: skip
    trainer: Trainer | None = None
    load: Load | None = None
    try:
        trainer = Trainer(
            tmp_path / "trainer", "--name", "churn", "--target", "churned",
            "--eval", str(evaluation), "--gate", "f1 >= champion - 0.05 and f1 >= 0.6",
            "--notify", api.url, env=remote,
        )  # fmt: skip
        inbox = trainer.home / "inbox"
        drop_file(inbox, "week1.csv", churn_csv(600, seed=1))
        first = trainer.wait_job(lambda j: j["state"] == "registered")
        assert first["decision"]["decision"] == "promoted" and first["version"] == "1"
        api.wait_version("1", timeout=60)  # the notification, not the 60 s poll

        # A client predicts without pause while the next version is trained and swapped in.
        load = Load(api.url, {"dataframe_records": [CHURN_ROW]}, clients=4)
        wait_until(lambda: load.count() > 20, 30, what="the load to start")
        landed = drop_file(inbox, "week2.csv", churn_csv(600, seed=2))
        second = trainer.wait_job(lambda j: j["source"] == "inbox/week2.csv" and j["version"])
        assert second["state"] == "registered", second
        assert second["decision"]["decision"] == "promoted", second["decision"]
        assert second["decision"]["rule"] == "f1 >= champion - 0.05 and f1 >= 0.6"
        assert second["metrics"]["champion"] is not None
        wait_until(
            lambda: any(s.version == "2" and s.started > landed for s in list(load.samples)),
            60, what="version 2 answering",
        )  # fmt: skip
        answered = min(s.started + s.latency for s in list(load.samples) if s.version == "2")
        _report("file landed -> new version answering", answered - landed, second)

        # A worse model from new data: a large batch with inverted labels.
        drop_file(inbox, "inverted.csv", churn_csv(3000, seed=3, invert=True))
        worse = trainer.wait_job(lambda j: j["source"] == "inbox/inverted.csv" and j["version"])
        samples = load.finish()
        load = None
    finally:
        if load is not None:
            load.finish()
        if trainer is not None:
            trainer.stop()
        api_log = api.log()
        assert api.stop() == 0, api_log[-3000:]

    assert worse["state"] == "registered" and worse["version"] == "3"
    decision = worse["decision"]
    assert decision["decision"] == "held_back" and decision["promoted"] is False
    assert decision["reason"].startswith("f1 ") and "<" in decision["reason"], decision
    assert float(decision["challenger"]) < float(decision["champion"])
    client = MlflowClient(tracking_uri=mlflow_server.url, registry_uri=mlflow_server.url)
    model = client.get_registered_model("churn")
    assert model.aliases == {"production": "2", "challenger": "3"}
    tags = client.get_model_version("churn", "3").tags
    assert tags["warmserve.gate.decision"] == "held_back"
    assert tags["warmserve.gate.reason"] == decision["reason"]
    assert tags["warmserve.gate.champion_version"] == "2"
    assert client.get_model_version("churn", "2").tags["warmserve.gate.decision"] == "promoted"

    # the run says exactly what it trained and was judged on
    run = client.get_run(worse["run_id"])
    inputs = {
        next(t.value for t in d.tags if t.key == "mlflow.data.context"): d.dataset
        for d in run.inputs.dataset_inputs
    }
    assert inputs["training"].digest == tags["warmserve.data.digest"]
    assert json.loads(inputs["evaluation"].source)["uri"].endswith("eval.csv")
    assert run.data.params["n_rows"] == tags["warmserve.data.train_rows"]

    assert samples and all(s.status == 200 for s in samples), [
        (s.status, s.text) for s in samples if s.status != 200
    ][:5]
    assert {s.version for s in samples} == {"1", "2"}
    assert samples[-1].version == "2"  # the refused version 3 never served
    assert registered_versions(mlflow_server.url, "churn") == ["1", "2", "3"]


def test_bad_inputs_never_break_the_trainer(tmp_path: Path) -> None:
    trainer = Trainer(
        tmp_path / "home", "--name", "churn", "--target", "churned", "--max-body-bytes", "100000",
        env={"WARMSERVE_ADMIN_TOKEN": TOKEN},
    )  # fmt: skip
    try:
        good = trainer.client.post(
            "/data", content=churn_csv(600, seed=1), headers={**AUTH, "Content-Type": "text/csv"}
        )
        assert good.status_code == 202, good.text
        trainer.wait_job(lambda j: j["state"] == "registered")
        inbox = trainer.home / "inbox"
        partial = inbox / "partial.csv"
        partial.touch()  # a writer created the file and has not written yet
        scans = trainer.client.get("/status").json()["inbox_scans"]
        header = b"tenure,charges,plan,churned\n"
        bad = {
            "unparsable.csv": b'tenure,charges\n"1,2\n\x00\xff',
            "no-target.csv": b"tenure,charges,plan\n1,20.0,pro\n",
            "wrong-columns.csv": b"tenure,region,plan,churned\n1,eu,pro,0\n",
            "empty.csv": header,
            "notes.txt": b"hello",
        }
        for name, data in bad.items():
            drop_file(inbox, name, data)
        rejected = wait_until(
            lambda: [j for j in trainer.jobs() if j["state"] == "rejected"]
            if len([j for j in trainer.jobs() if j["state"] == "rejected"]) == len(bad)
            else None,
            60, what="every bad file rejected",
        )  # fmt: skip
        reasons = {j["source"].removeprefix("inbox/"): j["reason"] for j in rejected}
        assert "cannot parse" in reasons["unparsable.csv"]
        assert "target column 'churned' is missing" in reasons["no-target.csv"]
        assert "unexpected ['region']" in reasons["wrong-columns.csv"]
        assert "empty" in reasons["empty.csv"]
        assert "unsupported data type" in reasons["notes.txt"]
        for name in bad:
            assert (inbox / "rejected" / name).exists()
            note = (inbox / "rejected" / f"{name}.reason.txt").read_text()
            assert reasons[name] in note
        # the 0-byte file waited through many scans, untouched, and is read once written
        status = wait_until(
            lambda: (s := trainer.client.get("/status").json())["inbox_scans"] > scans + 10 and s,
            30, what="more inbox scans",
        )  # fmt: skip
        assert status["inbox_waiting"] == ["partial.csv"] and partial.exists()
        with open(partial, "ab") as handle:
            handle.write(churn_csv(300, seed=5))
        grown = trainer.wait_job(lambda j: j["source"] == "inbox/partial.csv")
        grown = trainer.wait_job(lambda j: j["id"] == grown["id"] and j["state"] == "registered")
        assert grown["rows"] == 300 and grown["version"] == "2"

        csv = {"Content-Type": "text/csv"}
        no_token = trainer.client.post("/data", content=churn_csv(20, 6), headers=csv)
        assert no_token.status_code == 401 and no_token.json()["error_code"] == "UNAUTHORIZED"
        wrong = trainer.client.post(
            "/data", content=churn_csv(20, 6), headers={**csv, "Authorization": b"Bearer \xe9"}
        )
        assert wrong.status_code == 401
        large = trainer.client.post("/data", content=churn_csv(9000, 7), headers={**csv, **AUTH})
        assert large.status_code == 413 and large.json()["error_code"] == "PAYLOAD_TOO_LARGE"
        assert trainer.client.get("/health/ready").status_code == 200
        home_registry = f"sqlite:///{trainer.home / 'mlflow.db'}"
        assert registered_versions(home_registry, "churn") == ["1", "2"]
    finally:
        assert trainer.stop() == 0, trainer.log()[-3000:]


def test_kill_9_mid_training_trains_the_data_exactly_once(tmp_path: Path) -> None:
    home = tmp_path / "home"
    registry = f"sqlite:///{home / 'mlflow.db'}"
    slow = ("--name", "churn", "--target", "churned", "--estimator", "gradient_boosting",
            "--n-estimators", "300", "--max-depth", "4")  # fmt: skip
    trainer = Trainer(home, *slow)
    try:
        drop_file(home / "inbox", "big.csv", churn_csv(30000, seed=1))
        job = trainer.wait_job(lambda j: j["state"] == "training")
        wait_until(lambda: "training:" in trainer.log(), 60, what="the fit to start")
        os.killpg(trainer.proc.pid, signal.SIGKILL)
        trainer.proc.wait(10)
        assert registered_versions(registry, "churn") == []  # it really died mid-training
    finally:
        trainer.stop()

    again = Trainer(home, *slow)
    try:
        done = again.wait_job(lambda j: j["id"] == job["id"] and j["state"] == "registered", 300)
        assert done["version"] == "1"
    finally:
        assert again.stop() == 0
    assert registered_versions(registry, "churn") == ["1"]

    # The narrow window: registered, then killed before the journal said so. A restart
    # must find the version by its data digest instead of training a second one.
    journal_path = home / "trainer" / "journal.json"
    journal = json.loads(journal_path.read_text())
    for batch in journal["batches"]:
        batch["pending"], batch["version"] = True, None
    for entry in journal["jobs"]:
        entry["state"] = "training"
    journal_path.write_text(json.dumps(journal))
    third = Trainer(home, *slow)
    try:
        found = third.wait_job(lambda j: j["id"] == job["id"] and j["state"] == "registered")
        assert found["version"] == "1"
        assert "registered before a restart" in third.log()
    finally:
        assert third.stop() == 0
    assert registered_versions(registry, "churn") == ["1"]


def _report(what: str, seconds: float, job: dict[str, object]) -> None:
    line = f"{what}: {seconds:.2f} s (version {job['version']})"
    print(f"\n{line}")
    RESULTS.mkdir(parents=True, exist_ok=True)
    record = {"measure": what, "seconds": round(seconds, 3), "at": time.strftime("%FT%T")}
    with open(RESULTS / "trainer-file-to-serving.jsonl", "a") as handle:
        handle.write(json.dumps(record) + "\n")
