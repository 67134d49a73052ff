"""Model sources: parse what the user wrote, resolve it to one pinned version.

The runtime watches a *source* (``models:/churn@production``) but always loads
a *pinned* URI (``models:/churn/7``), so the version it reports is the version
it serves even if the alias moves in between.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import re
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Literal
from urllib.parse import unquote, urlparse
from urllib.request import url2pathname

from mlflow import MlflowClient

from warmserve import errors
from warmserve.registry.connection import registry_errors

log = logging.getLogger(__name__)

DEFAULT_ALIAS = "production"
STAGES = {"production": "Production", "staging": "Staging", "archived": "Archived", "none": "None"}
ACCEPTED_FORMS = (
    "accepted model sources: models:/NAME@ALIAS, models:/NAME (alias 'production'), "
    "models:/NAME/VERSION, models:/NAME/latest, models:/NAME/STAGE "
    "(Production|Staging|Archived|None, deprecated), runs:/RUN_ID/ARTIFACT_PATH, "
    "or a local model directory (plain path or file://)"
)
_ALIAS_RE = re.compile(r"^[\w\-]+$")
_SCHEME_RE = re.compile(r"^([A-Za-z][A-Za-z0-9+.\-]*)://")

SourceKind = Literal["alias", "version", "stage", "run", "path"]


@dataclass(frozen=True)
class ParsedSource:
    """The syntax of a source, before any registry lookup."""

    kind: SourceKind
    name: str | None
    ref: str | None  # alias, version, canonical stage or run id
    path: str | None  # artifact path for runs, filesystem path for local dirs


@dataclass(frozen=True)
class ModelVersion:
    """One concrete, loadable model version and where it came from."""

    source: str
    load_uri: str
    name: str | None
    version: str
    alias: str | None
    run_id: str | None

    def to_dict(self) -> dict[str, str | None]:
        return asdict(self)


def _bad(source: str, why: str) -> errors.BadRequest:
    return errors.BadRequest(f"malformed model source {source!r}: {why}; {ACCEPTED_FORMS}")


def _check_name(source: str, name: str) -> str:
    if not name.strip() or any(c in name for c in "/:@"):
        raise _bad(source, "missing or invalid model name")
    return name


def parse_source(source: str) -> ParsedSource:
    """Classify ``source`` without touching the registry; BadRequest if malformed."""
    text = source.strip()
    if not text:
        raise _bad(source, "empty")
    if text.startswith("models:"):
        return _parse_models(source, text[len("models:") :])
    if text.startswith("runs:"):
        rest = text[len("runs:") :]
        if not rest.startswith("/") or rest.startswith("//"):
            raise _bad(source, "expected runs:/RUN_ID/ARTIFACT_PATH")
        run_id, _, path = rest[1:].partition("/")
        path = path.strip("/")
        if not run_id.strip() or not path:
            raise _bad(source, "expected runs:/RUN_ID/ARTIFACT_PATH")
        return ParsedSource(kind="run", name=None, ref=run_id, path=path)
    match = _SCHEME_RE.match(text)
    if match and match.group(1).lower() != "file":
        raise _bad(source, f"unsupported scheme {match.group(1)!r}")
    if match:
        parsed = urlparse(text)
        if parsed.netloc not in ("", "localhost"):
            raise _bad(source, "file:// URIs must point to this machine")
        text = url2pathname(unquote(parsed.path))
    return ParsedSource(kind="path", name=None, ref=None, path=text)


def _parse_models(source: str, rest: str) -> ParsedSource:
    if not rest.startswith("/") or rest.startswith("//"):
        raise _bad(source, "expected models:/NAME...")
    body = rest[1:]
    if "@" in body:
        name, _, alias = body.partition("@")
        if not _ALIAS_RE.match(alias):
            raise _bad(source, "alias must be letters, digits, '_' or '-'")
        return ParsedSource(kind="alias", name=_check_name(source, name), ref=alias, path=None)
    parts = body.split("/")
    name = _check_name(source, parts[0])
    if len(parts) == 1:
        return ParsedSource(kind="alias", name=name, ref=DEFAULT_ALIAS, path=None)
    if len(parts) != 2 or not parts[1]:
        raise _bad(source, "expected models:/NAME/VERSION or models:/NAME/STAGE")
    suffix = parts[1]
    if suffix.isdigit():
        return ParsedSource(kind="version", name=name, ref=str(int(suffix)), path=None)
    if suffix.lower() == "latest":
        # MLflow reserves the alias "latest" for the highest version.
        return ParsedSource(kind="alias", name=name, ref="latest", path=None)
    stage = STAGES.get(suffix.lower())
    if stage is None:
        raise _bad(source, f"{suffix!r} is neither a version number nor a stage")
    return ParsedSource(kind="stage", name=name, ref=stage, path=None)


def resolve(source: str, client: MlflowClient) -> ModelVersion:
    """Pin ``source`` to one version: what to load and what to report.

    Missing things raise :class:`errors.ModelNotAvailable`; an unreachable or
    failing registry raises :class:`errors.RegistryError`.
    """
    parsed = parse_source(source)
    if parsed.kind == "path":
        return _resolve_path(source, parsed)
    if parsed.kind == "run":
        assert parsed.ref is not None and parsed.path is not None
        with registry_errors(f"run {parsed.ref!r}"):
            run = client.get_run(parsed.ref)
        return ModelVersion(
            source=source,
            load_uri=f"runs:/{parsed.ref}/{parsed.path}",
            name=None,
            version=parsed.ref,
            alias=None,
            run_id=run.info.run_id,
        )
    name, ref = parsed.name, parsed.ref
    assert name is not None and ref is not None
    if parsed.kind == "alias":
        with registry_errors(f"alias {ref!r} of model {name!r}"):
            mv = client.get_model_version_by_alias(name, ref)
    elif parsed.kind == "version":
        with registry_errors(f"version {ref} of model {name!r}"):
            mv = client.get_model_version(name, ref)
    else:
        _warn_stage_deprecated(source, name, ref)
        with registry_errors(f"stage {ref!r} of model {name!r}"):
            latest = client.get_latest_versions(name, stages=[ref])
        if not latest:
            raise errors.ModelNotAvailable(f"model {name!r} has no version in stage {ref!r}")
        mv = max(latest, key=lambda v: int(v.version))
    return ModelVersion(
        source=source,
        load_uri=f"models:/{name}/{mv.version}",
        name=name,
        version=str(mv.version),
        alias=ref if parsed.kind == "alias" else None,
        run_id=mv.run_id,
    )


@functools.lru_cache(maxsize=64)
def _warn_stage_deprecated(source: str, name: str, stage: str) -> None:
    """Once per source and process: the watcher resolves on every poll."""
    log.warning(
        "model source %s uses registry stage %r: stages are deprecated in MLflow; "
        "set an alias instead (warmserve promote %s VERSION ALIAS) and serve models:/%s@ALIAS",
        source,
        stage,
        name,
        name,
    )


def _resolve_path(source: str, parsed: ParsedSource) -> ModelVersion:
    assert parsed.path is not None
    path = Path(parsed.path).expanduser().resolve()
    if path.is_file() and path.name == "MLmodel":
        path = path.parent
    if not path.is_dir():
        raise errors.ModelNotAvailable(f"model directory {str(path)!r} does not exist")
    mlmodel = path / "MLmodel"
    if not mlmodel.is_file():
        raise errors.ModelNotAvailable(f"{str(path)!r} is not an MLflow model: no MLmodel file")
    try:
        version = local_version(path)
    except OSError as exc:
        raise errors.ModelNotAvailable(f"cannot read model directory {str(path)!r}: {exc}") from exc
    return ModelVersion(
        source=source,
        load_uri=str(path),
        name=path.name,
        version=version,
        alias=None,
        run_id=None,
    )


def local_version(model_dir: Path) -> str:
    """A version id for a local directory that changes when its files change.

    Hashes the MLmodel content plus every file's relative path, size and mtime,
    so overwriting the model in place is seen as a new version without reading
    (possibly large) weights.
    """
    digest = hashlib.sha256((model_dir / "MLmodel").read_bytes())
    for file in sorted(p for p in model_dir.rglob("*") if p.is_file()):
        stat = file.stat()
        rel = file.relative_to(model_dir).as_posix()
        digest.update(f"\0{rel}\0{stat.st_size}\0{stat.st_mtime_ns}".encode())
    return f"local-{digest.hexdigest()[:12]}"
