"""`warmserve serve | train | trainer | mlflow | stack | promote | models | demo`.

Settings flags are generated from the Settings class, so every flag has its
``WARMSERVE_*`` twin by construction. Flags given on the command line win
over the environment, which wins over the defaults.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from warmserve.errors import WarmserveError
from warmserve.redaction import redact
from warmserve.settings import Settings

REGISTRY_FIELDS = ("home", "tracking_uri", "log_level")
DEMO_MODEL = "iris-clf"
# Settings of the parts around the server: `serve` does not take them. trainer_url is
# the API's own setting (where its status page finds the trainer), not the trainer's.
ROLE_PREFIXES = ("trainer_", "mlflow_")
API_SIDE = ("trainer_url",)
SERVE_FIELDS = tuple(
    f for f in Settings.model_fields if not f.startswith(ROLE_PREFIXES) or f in API_SIDE
)
TRAINER_FIELDS = (
    *REGISTRY_FIELDS,
    "admin_token",
    *(f for f in Settings.model_fields if f.startswith("trainer_") and f not in API_SIDE),
)
MLFLOW_FIELDS = (
    "home",
    "log_level",
    *(f for f in Settings.model_fields if f.startswith("mlflow_")),
)
# `stack` sets the API's model and the registry URI itself (its own MLflow server).
STACK_FIELDS = tuple(f for f in Settings.model_fields if f not in ("model", "tracking_uri"))


def settings_flags(name: str, fields: Iterable[str], short_prefix: str | None = None) -> list[str]:
    """The flags of setting ``name``: always --the-full-name; also the name without
    ``short_prefix`` (trainer_port -> --port) when no other setting of the command has it."""
    flags = ["--" + name.replace("_", "-")]
    if short_prefix and name.startswith(short_prefix):
        short = name.removeprefix(short_prefix)
        if short not in set(fields):
            flags.insert(0, "--" + short.replace("_", "-"))
    return flags


def _add_settings_flags(
    parser: argparse.ArgumentParser, fields: Iterable[str], short_prefix: str | None = None
) -> None:
    group = parser.add_argument_group("settings (each also WARMSERVE_<NAME> in the environment)")
    fields = tuple(fields)
    for name in fields:
        info = Settings.model_fields[name]
        env = f"WARMSERVE_{name.upper()}"
        default = info.get_default(call_default_factory=True)
        default = "unset" if default is None else default
        group.add_argument(
            *settings_flags(name, fields, short_prefix),
            dest=f"setting_{name}",
            default=argparse.SUPPRESS,
            metavar=name.split("_")[-1].upper(),
            help=f"{info.description} [env {env}; default {default}]",
        )


def _settings(args: argparse.Namespace, **extra: Any) -> Settings:
    given = {
        key.removeprefix("setting_"): value
        for key, value in vars(args).items()
        if key.startswith("setting_")
    }
    return Settings(**{**given, **extra})


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="warmserve", description="Serve MLflow models, kept warm and hot-swapped."
    )
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="start the HTTP server")
    _add_settings_flags(serve, SERVE_FIELDS)

    demo = commands.add_parser(
        "demo", help="train the iris demo model if the registry has none, then serve it"
    )
    _add_settings_flags(demo, [f for f in SERVE_FIELDS if f != "model"])

    trainer = commands.add_parser(
        "trainer", help="train, register and gate a new version whenever data arrives"
    )
    _add_settings_flags(trainer, TRAINER_FIELDS, short_prefix="trainer_")

    mlflow = commands.add_parser(
        "mlflow", help="run an MLflow server (the model registry), stopped as one process group"
    )
    _add_settings_flags(mlflow, MLFLOW_FIELDS, short_prefix="mlflow_")

    stack = commands.add_parser(
        "stack", help="run the MLflow server, the API and the trainer together on this machine"
    )
    _add_settings_flags(stack, STACK_FIELDS, short_prefix="trainer_")

    train = commands.add_parser("train", help="train, log and register a scikit-learn model")
    source = train.add_mutually_exclusive_group(required=True)
    source.add_argument(
        "--dataset", help="built-in dataset: iris, wine, breast_cancer, diabetes, synthetic"
    )
    source.add_argument("--data", type=Path, help="your own CSV file (needs --target)")
    train.add_argument("--target", help="target column of --data")
    train.add_argument("--name", required=True, help="registered model name")
    train.add_argument(
        "--estimator",
        default="auto",
        help="auto, logistic, linear, random_forest, gradient_boosting",
    )
    train.add_argument("--task", default="auto", choices=["auto", "classification", "regression"])
    train.add_argument("--promote", metavar="ALIAS", help="point this alias at the new version")
    train.add_argument("--n-estimators", type=int)
    train.add_argument("--max-depth", type=int)
    train.add_argument("--seed", type=int, default=0)
    _add_settings_flags(train, REGISTRY_FIELDS)

    promote = commands.add_parser("promote", help="point an alias at a version")
    promote.add_argument("name")
    promote.add_argument("version")
    promote.add_argument("--alias", default="production")
    _add_settings_flags(promote, REGISTRY_FIELDS)

    models = commands.add_parser("models", help="list registered models, versions and aliases")
    _add_settings_flags(models, REGISTRY_FIELDS)
    return parser


def main(argv: Sequence[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    try:
        code = _dispatch(args)
    except ValidationError as exc:
        print(redact(f"warmserve: invalid setting: {exc}"), file=sys.stderr)
        code = 2
    except WarmserveError as exc:
        print(redact(f"warmserve: {exc.message}"), file=sys.stderr)
        code = 1
    sys.exit(code)


def _dispatch(args: argparse.Namespace) -> int:
    from warmserve.logs import setup_logging

    if args.command == "demo":
        settings = _settings(args, model=f"models:/{DEMO_MODEL}@production")
        setup_logging(settings.log_level, "main")
        _ensure_demo_model(settings)
        _print_demo_hint(settings)
        return _serve(settings)
    settings = _settings(args)
    setup_logging(settings.log_level, "main")
    if args.command == "serve":
        return _serve(settings)
    if args.command == "train":
        return _train(args, settings)
    if args.command == "trainer":
        from warmserve.trainer.main import run_trainer

        return run_trainer(settings)
    if args.command == "mlflow":
        from warmserve.stack.mlflow_server import run_mlflow

        return run_mlflow(settings)
    if args.command == "stack":
        from warmserve.stack.runner import run_stack

        return run_stack(settings)
    from warmserve.registry import admin, connect

    client = connect(settings)
    if args.command == "promote":
        admin.promote(client, args.name, args.version, args.alias)
        print(f"{args.name}@{args.alias} -> version {args.version}")
        return 0
    print(admin.format_models(admin.list_models(client)))
    return 0


def _serve(settings: Settings) -> int:
    from warmserve.supervisor import Supervisor

    return Supervisor(settings).run()


def _train(args: argparse.Namespace, settings: Settings) -> int:
    from warmserve.training import train_and_register

    result = train_and_register(
        settings,
        name=args.name,
        dataset=args.dataset,
        data=args.data,
        target=args.target,
        estimator=args.estimator,
        task=args.task,
        promote=args.promote,
        seed=args.seed,
        n_estimators=args.n_estimators,
        max_depth=args.max_depth,
    )
    print(f"run id:   {result.run_id}")
    print(f"model:    {result.name} version {result.version}")
    print(f"{result.metric_name}: {result.metric_value:.4f} (held-out validation)")
    if result.alias:
        print(f"alias:    {result.name}@{result.alias} -> version {result.version}")
    return 0


def _ensure_demo_model(settings: Settings) -> None:
    from warmserve.errors import ModelNotAvailable
    from warmserve.registry import connect, resolve
    from warmserve.training import train_and_register

    assert settings.model is not None
    try:
        resolve(settings.model, connect(settings))
        return
    except ModelNotAvailable:
        pass
    logging.getLogger("warmserve").info("registry has no %s yet: training it", DEMO_MODEL)
    train_and_register(settings, name=DEMO_MODEL, dataset="iris", promote="production")


def _print_demo_hint(settings: Settings) -> None:
    url = f"http://{settings.host}:{settings.port}"
    body = (
        '{"dataframe_records": [{"sepal_length_cm": 5.1, "sepal_width_cm": 3.5, '
        '"petal_length_cm": 1.4, "petal_width_cm": 0.2}]}'
    )
    print(
        "\nwarmserve demo: serving models:/iris-clf@production. Try, in another terminal:\n"
        f"  curl -s {url}/invocations -H 'Content-Type: application/json' -d '{body}'\n"
        f"  (API docs: {url}/docs; stop with Ctrl-C)\n",
        flush=True,
    )
