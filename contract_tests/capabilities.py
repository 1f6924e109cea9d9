"""What a target declares it supports, so unsupported groups are reported "not applicable", never failed.

A contract suite that fails a gateway for lacking a feature it never claimed would be useless to
vendors; one that silently skips what a target *does* claim would be worse. So every capability is
explicit: a profile gives defaults (``backend`` — the mock or Azure OpenAI directly; ``gateway`` — an
API Management-like gateway in front of it), a small YAML file (``--capabilities FILE``) or flags
override single fields, and a test names the capabilities it ``needs``.

Path-valued capabilities (``metrics``, ``mcp``, ``a2a``) are either off (``false``/null) or the path
where the target serves them; ``true`` in YAML means "at the default path".
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

PROFILES = ("backend", "gateway")
DEFAULT_PATHS = {"metrics": "/metrics", "mcp": "/mcp", "a2a": "/.well-known/agent-card.json"}


class CapabilityError(ValueError):
    """A capability file or flag could not be used; ``str()`` is the message to show a person."""


class Capabilities(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    streaming: bool = False
    tools: bool = False
    json_mode: bool = False
    embeddings: bool = False
    completions: bool = False
    models: bool = Field(False, description="GET /v1/models")
    azure_paths: bool = Field(False, description="/openai/deployments/{id}/...?api-version=")
    v1_paths: bool = Field(False, description="/v1/... with the model in the body")
    seed_paths: bool = Field(False, description="/deployments/{id}/... (the APIM API suffix without /openai)")
    rate_limits: bool = Field(False, description="429 observable when a declared limit is exceeded")
    rate_limit_tpm: int | None = Field(None, gt=0, description="declared tokens-per-minute limit per key")
    quota: bool = Field(False, description="token quota exhausted → 403 (gateway)")
    caching: bool = False
    cache_ttl_s: float | None = Field(None, gt=0, description="declared cache duration, for the expiry check (short ones only)")
    failover: bool = Field(False, description="backends behind the target can be faulted through --mock-admin")
    content_safety: bool = False
    auth: bool = Field(False, description="keys enforced: missing/invalid key → 401")
    security: bool = Field(False, description="the security group's probes apply (a gateway)")
    metrics: str | None = None
    mcp: str | None = None
    a2a: str | None = None
    request_id_header: str = "apim-request-id"
    embedding_max_dimensions: int = Field(1536, gt=0, description="largest `dimensions` the embeddings deployment accepts")
    # The deployments' model limits (null: none). Generated *valid* requests are fitted into them, as the spec
    # cannot know them: a max_tokens above the model's cap is a 400 from Azure OpenAI, not a contract violation.
    # Defaults: the smallest limits of current models, so the default never makes valid data invalid.
    context_window: int | None = Field(8192, gt=0, description="chat deployment: prompt + completion tokens per choice")
    max_completion_tokens: int | None = Field(4096, gt=0, description="chat deployment: most tokens of one answer")
    completions_context_window: int | None = Field(4097, gt=0, description="completions deployment: prompt + completion")
    embeddings_max_input_tokens: int | None = Field(8191, gt=0, description="embeddings deployment: tokens per input")

    @field_validator("metrics", "mcp", "a2a", mode="before")
    @classmethod
    def _path_or_off(cls, value: Any, info) -> Any:
        if value is True:
            return DEFAULT_PATHS[info.field_name]
        if value is False or value == "":
            return None
        if isinstance(value, str) and not value.startswith("/"):
            raise ValueError(f"a path starting with / (got {value!r})")
        return value

    def supports(self, name: str) -> bool:
        if name not in type(self).model_fields:
            raise CapabilityError(f"unknown capability {name!r}; known: {', '.join(type(self).model_fields)}")
        return bool(getattr(self, name))

    def declared(self) -> dict[str, Any]:
        """Only what is on, for reports."""
        return {name: value for name, value in self.model_dump().items() if value not in (False, None)}


_MODEL_API = dict(streaming=True, tools=True, json_mode=True, embeddings=True, completions=True)
PROFILE_DEFAULTS: dict[str, dict[str, Any]] = {
    # The mock (or Azure OpenAI) directly: every model-API path; rate limits via the mock admin; MCP and A2A mounts.
    "backend": {**_MODEL_API, "models": True, "azure_paths": True, "v1_paths": True, "seed_paths": True,
                "rate_limits": True, "mcp": True, "a2a": True},
    # A gateway: the Azure paths with subscription keys and Prometheus metrics; the rest only as declared.
    "gateway": {**_MODEL_API, "azure_paths": True, "auth": True, "metrics": True, "security": True},
}


def load_capabilities(profile: str, file: str | Path | None = None, overrides: dict[str, Any] | None = None) -> Capabilities:
    """Profile defaults, then the YAML file's fields, then explicit overrides (flags)."""
    if profile not in PROFILES:
        raise CapabilityError(f"unknown profile {profile!r}; choose one of: {', '.join(PROFILES)}")
    data = dict(PROFILE_DEFAULTS[profile])
    source = "flags"
    if file is not None:
        source = str(file)
        data.update(_read_yaml(Path(file)))
    data.update(overrides or {})
    try:
        return Capabilities.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'capabilities'}: {e['msg']}" for e in exc.errors())
        raise CapabilityError(f"{source}: invalid capabilities: {problems}") from None


def _read_yaml(path: Path) -> dict[str, Any]:
    try:
        data = yaml.safe_load(path.read_text("utf-8"))
    except FileNotFoundError:
        raise CapabilityError(f"{path}: no such file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise CapabilityError(f"{path}: cannot read: {exc}") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark else str(path)
        raise CapabilityError(f"{where}: invalid YAML: {getattr(exc, 'problem', None) or exc}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise CapabilityError(f"{path}: a capabilities file is a mapping of capability: value (got {type(data).__name__})")
    data = {str(key).replace("-", "_"): value for key, value in data.items()}
    unknown = sorted(set(data) - set(Capabilities.model_fields))
    if unknown:
        raise CapabilityError(f"{path}: unknown capabilit{'y' if len(unknown) == 1 else 'ies'} {', '.join(unknown)}; "
                              f"known: {', '.join(Capabilities.model_fields)}")
    return data
