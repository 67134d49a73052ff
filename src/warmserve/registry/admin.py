"""Registry housekeeping behind `warmserve promote` and `warmserve models`.

Moving an alias is how a new version goes live: every server watching
``models:/NAME@ALIAS`` picks it up on its next poll.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from mlflow import MlflowClient
from mlflow.entities.model_registry import ModelVersion as MlflowModelVersion
from mlflow.entities.model_registry import RegisteredModel

from warmserve import errors
from warmserve.registry.connection import registry_errors

_ALIAS_RE = re.compile(r"^[\w\-]+$")
_VERSION_LIKE_RE = re.compile(r"^[vV]\d+$")


@dataclass(frozen=True)
class RegisteredModelInfo:
    name: str
    latest_version: str | None
    aliases: dict[str, str] = field(default_factory=dict)  # alias -> version
    versions: list[str] = field(default_factory=list)


def validate_model_name(name: str) -> None:
    """Names end up inside models:/NAME@ALIAS URIs, so '/', ':' and '@' are out."""
    if not name or not name.strip() or any(c in name for c in "/:@"):
        raise errors.BadRequest(
            f"invalid model name {name!r}: must be non-empty without '/', ':' or '@'"
        )


def validate_alias(alias: str) -> None:
    """MLflow's alias rules, checked up front for a clear message."""
    if not _ALIAS_RE.match(alias or ""):
        raise errors.BadRequest(f"invalid alias {alias!r}: use letters, digits, '_' and '-' only")
    if alias.lower() == "latest" or _VERSION_LIKE_RE.match(alias):
        raise errors.BadRequest(f"alias {alias!r} is reserved by MLflow ('latest', 'v<N>')")


def promote(client: MlflowClient, name: str, version: str, alias: str) -> None:
    """Point ``alias`` of model ``name`` at ``version`` (moving it if already set)."""
    validate_model_name(name)
    validate_alias(alias)
    version = str(version).strip()
    if not version.isdigit():
        raise errors.BadRequest(f"version must be a number, got {version!r}")
    _require_model(client, name)
    with registry_errors(f"version {version} of model {name!r}"):
        client.get_model_version(name, version)
    with registry_errors(f"alias {alias!r} of model {name!r}"):
        client.set_registered_model_alias(name, alias, version)


def delete_alias(client: MlflowClient, name: str, alias: str) -> None:
    """Remove ``alias``; servers watching it keep their model but see nothing new."""
    validate_model_name(name)
    model = _require_model(client, name)
    if alias not in model.aliases:
        raise errors.ModelNotAvailable(f"model {name!r} has no alias {alias!r}")
    with registry_errors(f"alias {alias!r} of model {name!r}"):
        client.delete_registered_model_alias(name, alias)


def versions_tagged(client: MlflowClient, name: str, key: str, value: str) -> list[str]:
    """Versions of ``name`` whose tag ``key`` equals ``value`` (none if the model is new)."""
    validate_model_name(name)
    with registry_errors(f"versions of model {name!r}"):
        found = [mv for mv in _all_versions(client, name) if (mv.tags or {}).get(key) == value]
    return sorted((str(mv.version) for mv in found), key=int)


def alias_version(client: MlflowClient, name: str, alias: str) -> str | None:
    """The version ``alias`` points at, or None when the model or the alias does not exist."""
    try:
        with registry_errors(f"alias {alias!r} of model {name!r}"):
            return str(client.get_model_version_by_alias(name, alias).version)
    except errors.ModelNotAvailable:
        return None


def list_models(client: MlflowClient) -> list[RegisteredModelInfo]:
    """Every registered model with its versions and aliases, sorted by name."""
    result: list[RegisteredModelInfo] = []
    with registry_errors("registered models"):
        models: list[RegisteredModel] = []
        token: str | None = None
        while True:
            page = client.search_registered_models(max_results=200, page_token=token)
            models.extend(page)
            token = page.token
            if not token:
                break
        for model in models:
            versions = sorted(
                (str(mv.version) for mv in _all_versions(client, model.name)), key=int
            )
            result.append(
                RegisteredModelInfo(
                    name=model.name,
                    latest_version=versions[-1] if versions else None,
                    aliases={a: str(v) for a, v in sorted(model.aliases.items())},
                    versions=versions,
                )
            )
    return sorted(result, key=lambda m: m.name)


def format_models(models: list[RegisteredModelInfo]) -> str:
    """A plain-text table; long version lists are shortened to their ends."""
    if not models:
        return "no registered models"
    rows = [("NAME", "LATEST", "VERSIONS", "ALIASES")]
    for m in models:
        versions = ",".join(m.versions)
        if len(m.versions) > 6:
            versions = f"{m.versions[0]}..{m.versions[-1]} ({len(m.versions)})"
        aliases = " ".join(f"@{a}={v}" for a, v in m.aliases.items()) or "-"
        rows.append((m.name, m.latest_version or "-", versions or "-", aliases))
    widths = [max(len(row[i]) for row in rows) for i in range(3)]
    lines = [
        "  ".join(cell.ljust(width) for cell, width in zip(row[:3], widths, strict=True))
        + "  "
        + row[3]
        for row in rows
    ]
    return "\n".join(line.rstrip() for line in lines)


def _require_model(client: MlflowClient, name: str) -> RegisteredModel:
    with registry_errors(f"registered model {name!r}"):
        return client.get_registered_model(name)


def _all_versions(client: MlflowClient, name: str) -> list[MlflowModelVersion]:
    quote = "'" if "'" not in name else '"'
    found: list[MlflowModelVersion] = []
    token: str | None = None
    while True:
        page = client.search_model_versions(
            f"name={quote}{name}{quote}", max_results=1000, page_token=token
        )
        found.extend(page)
        token = page.token
        if not token:
            return found
