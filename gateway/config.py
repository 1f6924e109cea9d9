"""The gateway's configuration (``gateway.yaml``), validated with pydantic.

Shapes follow API Management: APIs with a path prefix and a kind, products and subscriptions,
backends (with ARM's camelCase ``circuitBreaker`` rules) and pools, and policy lists per scope
(global → product → API → operation, like APIM's ``<base/>`` chain) using APIM's policy element and
attribute names. Every error names file, line and field (``aigw.protocol.yamlconfig``).
"""

import ipaddress
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, field_validator, model_validator

from aigw.gateway.durations import parse_duration
from aigw.protocol.server_limits import ServerLimits
from aigw.protocol.yamlconfig import load_model

Seconds = Annotated[float, BeforeValidator(parse_duration)]
ApiKind = Literal["azure-openai", "openai", "mcp", "a2a"]
SECTIONS = ("inbound", "backend", "outbound", "on-error")


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class PolicyEntry(BaseModel):
    """One policy element: ``{policy-name: {attribute: value, ...}}`` in YAML."""

    model_config = ConfigDict(frozen=True)
    name: str
    config: Any  # the policy's own validated PolicyConfig

    @model_validator(mode="before")
    @classmethod
    def _from_mapping(cls, value: Any) -> Any:
        from aigw.gateway.policies import registry

        if isinstance(value, PolicyEntry):
            return value
        if isinstance(value, str):
            value = {value: {}}
        if not isinstance(value, dict) or len(value) != 1:
            raise ValueError("a policy is a mapping with one key, the policy name, e.g. {llm-token-limit: {...}}")
        (name, attributes), = value.items()
        policy = registry.get(name)
        if policy is None:
            raise ValueError(f"unknown policy {name!r}; known: {', '.join(sorted(registry))}")
        return {"name": name, "config": policy.Config.model_validate(attributes or {})}


class Policies(Strict):
    inbound: list[PolicyEntry] = Field(default_factory=list)
    backend: list[PolicyEntry] = Field(default_factory=list)
    outbound: list[PolicyEntry] = Field(default_factory=list)
    on_error: list[PolicyEntry] = Field(default_factory=list, alias="on-error")

    @model_validator(mode="after")
    def _sections(self):
        from aigw.gateway.policies import registry

        for section in SECTIONS:
            for entry in getattr(self, section.replace("-", "_")):
                allowed = registry[entry.name].sections
                if section not in allowed:
                    raise ValueError(f"policy {entry.name!r} cannot be used in {section}; it belongs in {', '.join(sorted(allowed))}")
        return self

    def section(self, name: str) -> list[PolicyEntry]:
        return getattr(self, name.replace("-", "_"))


class StatusCodeRange(Strict):
    min: int = Field(ge=100, le=599)
    max: int = Field(ge=100, le=599)


class FailureCondition(Strict):
    count: int | None = Field(None, ge=1)
    percentage: float | None = Field(None, gt=0, le=100)
    interval: Seconds = 60.0
    # ours (Envoy's failure_percentage_request_volume): a percentage is judged only over this many attempts
    minimum_requests: int = Field(10, ge=1, alias="minimumRequests")
    status_code_ranges: list[StatusCodeRange] = Field(default_factory=list, alias="statusCodeRanges")
    error_reasons: list[str] = Field(default_factory=list, alias="errorReasons")

    @model_validator(mode="after")
    def _one_threshold(self):
        if (self.count is None) == (self.percentage is None):
            raise ValueError("failureCondition needs exactly one of count or percentage")
        return self


class BreakerRule(Strict):
    name: str = "breaker"
    failure_condition: FailureCondition = Field(alias="failureCondition")
    trip_duration: Seconds = Field(60.0, alias="tripDuration")
    accept_retry_after: bool = Field(False, alias="acceptRetryAfter")


class CircuitBreaker(Strict):
    rules: list[BreakerRule] = Field(min_length=1, max_length=1)


class HealthProbe(Strict):
    """Ours: a cheap readiness check of a backend (``aigw.gateway.backends``). While a breaker is half-open
    the probe, not a client's request, decides when the backend is back; and when attempts get no answer
    for ``stallAfter`` the probe decides whether the backend hangs (its waiting attempts then fail over)."""

    path: str = Field(min_length=1, description="joined to the backend URL (e.g. /models?api-version=2024-10-21)")
    timeout: Seconds = Field(2.0, gt=0)
    interval: Seconds = Field(1.0, gt=0, description="between probes while the backend is not ready")
    stall_after: Seconds = Field(5.0, gt=0, alias="stallAfter")


class UpstreamAuth(Strict):
    """A header set on every upstream request (e.g. the backend's ``api-key``)."""

    header: str = Field(min_length=1)
    value: str


class PoolMember(Strict):
    id: str
    priority: int = Field(1, ge=1)
    weight: int = Field(1, ge=1)


class Pool(Strict):
    services: list[PoolMember] = Field(min_length=1, max_length=30)


class Backend(Strict):
    id: str = Field(min_length=1)
    url: str | None = None
    pool: Pool | None = None
    auth: UpstreamAuth | None = None
    timeout: Seconds = Field(120.0, description="one attempt: until the answer's headers (a stream's first byte)")
    circuit_breaker: CircuitBreaker | None = Field(None, alias="circuitBreaker")
    health_probe: HealthProbe | None = Field(None, alias="healthProbe")

    @model_validator(mode="after")
    def _url_or_pool(self):
        if (self.url is None) == (self.pool is None):
            raise ValueError(f"backend {self.id!r} needs exactly one of url (a single backend) or pool")
        if self.url is not None and not self.url.startswith(("http://", "https://")):
            raise ValueError(f"backend {self.id!r}: url must start with http:// or https://")
        return self


class Operation(Strict):
    id: str
    policies: Policies = Field(default_factory=Policies)


class Api(Strict):
    id: str = Field(min_length=1)
    path: str = Field(description="path prefix, e.g. /openai")
    kind: ApiKind = "azure-openai"
    backend: str = Field(description="a backend or pool id")
    subscription_required: bool = Field(True, alias="subscription-required")
    subscription_key_header: str = Field("api-key", alias="subscription-key-header")
    policies: Policies = Field(default_factory=Policies)
    operations: list[Operation] = Field(default_factory=list)
    # MCP / A2A (aigw.gateway.passthrough): where clients reach the gateway, for rewritten agent cards
    # (default: from X-Forwarded-Proto/-Host or Host), and the longest silence allowed on a relayed event
    # stream (default: none on GET streams, which are idle by design, the backend's timeout otherwise).
    public_url: str | None = Field(None, alias="public-url", description="e.g. https://gw.example.com")
    stream_idle_timeout: Seconds | None = Field(None, alias="stream-idle-timeout")

    @field_validator("path")
    @classmethod
    def _path(cls, value: str) -> str:
        if not value.startswith("/") or (len(value) > 1 and value.endswith("/")):
            raise ValueError(f"path must start with / and not end with / (got {value!r})")
        return value

    @field_validator("public_url")
    @classmethod
    def _public_url(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("http://", "https://")):
            raise ValueError(f"public-url must start with http:// or https:// (got {value!r})")
        return value.rstrip("/") if value else value

    @field_validator("stream_idle_timeout")
    @classmethod
    def _idle(cls, value: float | None) -> float | None:
        if value is not None and value <= 0:
            raise ValueError("stream-idle-timeout must be positive (leave it out for no limit)")
        return value


class Product(Strict):
    id: str
    name: str | None = None
    apis: list[str] = Field(default_factory=list, description="API ids; empty = all")
    policies: Policies = Field(default_factory=Policies)


class Subscription(Strict):
    id: str
    key: str = Field(min_length=8)
    product: str
    user: str | None = None


class Limits(Strict):
    """Per-listener bounds (``aigw.protocol.server_limits``): a declared body over ``max-body-bytes`` is
    refused with 413 before it is read (and the connection closed); slow headers or bodies get 408;
    oversized headers 431; one connection over ``max-connections`` gets 503 and is closed."""

    max_body_bytes: int = Field(4 * 1024 * 1024, gt=0, alias="max-body-bytes")
    max_header_bytes: int = Field(64 * 1024, ge=1024, alias="max-header-bytes")
    max_headers: int = Field(100, ge=8, alias="max-headers")
    header_timeout: Seconds = Field(10.0, gt=0, alias="header-timeout")
    body_timeout: Seconds = Field(60.0, gt=0, alias="body-timeout")
    keep_alive: Seconds = Field(30.0, gt=0, alias="keep-alive")
    max_connections: int = Field(4096, ge=1, alias="max-connections")

    def server_limits(self) -> ServerLimits:
        return ServerLimits(header_timeout=self.header_timeout, body_timeout=self.body_timeout, keep_alive=self.keep_alive,
                            max_header_bytes=self.max_header_bytes, max_headers=self.max_headers,
                            max_connections=self.max_connections, error_shape="apim")


class Security(Strict):
    """Who may read what the gateway knows about its tenants, and whose forwarding headers it believes."""

    metrics_key: str | None = Field(None, alias="metrics-key", min_length=8,
                                    description="GET /metrics needs Authorization: Bearer <key> (None: open)")
    trusted_proxies: list[str] = Field(default_factory=list, alias="trusted-proxies",
                                       description="addresses or CIDRs whose X-Forwarded-For/-Proto/-Host are believed")

    @field_validator("trusted_proxies")
    @classmethod
    def _networks(cls, value: list[str]) -> list[str]:
        for entry in value:
            try:
                ipaddress.ip_network(entry, strict=False)
            except ValueError:
                raise ValueError(f"trusted-proxies: {entry!r} is not an IP address or CIDR (e.g. 10.0.0.0/8)") from None
        return value


class Telemetry(Strict):
    """OpenTelemetry export of the gateway's metrics; Prometheus ``/metrics`` is always served.

    OTLP (http/protobuf) is on when ``otlp-endpoint`` or ``OTEL_EXPORTER_OTLP_ENDPOINT`` /
    ``OTEL_EXPORTER_OTLP_METRICS_ENDPOINT`` is set; the console exporter only when ``console: true``
    (never by default: it would flood stdout). See ``aigw.gateway.otel``.
    """

    otlp_endpoint: str | None = Field(None, alias="otlp-endpoint", description="base URL, e.g. http://collector:4318")
    otlp_headers: dict[str, str] = Field(default_factory=dict, alias="otlp-headers")
    console: bool = False
    export_interval: Seconds = Field(60.0, alias="export-interval")
    service_name: str = Field("aigw-gateway", alias="service-name", min_length=1)

    @field_validator("export_interval")
    @classmethod
    def _positive(cls, value: float) -> float:
        if value <= 0:
            raise ValueError("export-interval must be positive")
        return value


ADMIN_PATH_PREFIX = "/_aigw/"


class Admin(Strict):
    """The gateway's admin API, an aigw extension (APIM has none): ``POST /_aigw/reset`` with
    ``Authorization: Bearer <token>`` puts token and call counters, circuit breakers and the semantic cache
    back to their start, so a test run can begin from a known state (``aigw check`` does, between groups).
    Off unless a token is set; an empty value (``${AIGW_ADMIN_TOKEN:-}`` unset) is off too."""

    token: str | None = Field(None, description="bearer token for /_aigw/*; absent or empty: the admin API is off")

    @field_validator("token")
    @classmethod
    def _token(cls, value: str | None) -> str | None:
        if value is None or value == "":
            return None
        if len(value) < 16 or any(c.isspace() for c in value):
            raise ValueError("admin token must be at least 16 characters without spaces (or empty: admin API off)")
        return value

    @property
    def enabled(self) -> bool:
        return self.token is not None


class GatewayConfig(Strict):
    gateway_id: str = Field("aigw", alias="gateway-id")
    region: str = "local"
    backends: list[Backend] = Field(min_length=1)
    apis: list[Api] = Field(min_length=1)
    products: list[Product] = Field(default_factory=list)
    subscriptions: list[Subscription] = Field(default_factory=list)
    policies: Policies = Field(default_factory=Policies)
    limits: Limits = Field(default_factory=Limits)
    security: Security = Field(default_factory=Security)
    store: dict[str, Any] = Field(default_factory=lambda: {"kind": "memory"})
    telemetry: Telemetry = Field(default_factory=Telemetry)
    admin: Admin = Field(default_factory=Admin)

    @model_validator(mode="after")
    def _references(self):
        backends = {b.id for b in self.backends}
        if len(backends) != len(self.backends):
            raise ValueError("backend ids must be unique")
        for backend in self.backends:
            for member in backend.pool.services if backend.pool else []:
                target = next((b for b in self.backends if b.id == member.id), None)
                if target is None:
                    raise ValueError(f"pool {backend.id!r} names unknown backend {member.id!r}")
                if target.pool is not None:
                    raise ValueError(f"pool {backend.id!r} cannot contain another pool ({member.id!r})")
        for api in self.apis:
            if (api.path + "/").startswith(ADMIN_PATH_PREFIX):
                raise ValueError(f"api {api.id!r}: paths under {ADMIN_PATH_PREFIX} are the gateway's admin API")
            if api.backend not in backends:
                raise ValueError(f"api {api.id!r} names unknown backend {api.backend!r}; have: {', '.join(sorted(backends))}")
        products = {p.id for p in self.products}
        apis = {a.id for a in self.apis}
        for product in self.products:
            for api in product.apis:
                if api not in apis:
                    raise ValueError(f"product {product.id!r} names unknown api {api!r}")
        keys = [s.key for s in self.subscriptions]
        if len(set(keys)) != len(keys):
            raise ValueError("subscription keys must be unique")
        for subscription in self.subscriptions:
            if subscription.product not in products:
                raise ValueError(f"subscription {subscription.id!r} names unknown product {subscription.product!r}")
        return self

    def backend(self, backend_id: str) -> Backend:
        return next(b for b in self.backends if b.id == backend_id)


def load_config(path: str | Path, environ: Mapping[str, str] | None = None) -> GatewayConfig:
    """Load ``gateway.yaml``; ``${VAR}`` / ``${VAR:-default}`` are taken from ``environ`` (default: the process's)."""
    return load_model(GatewayConfig, path, env=True, environ=environ)


def example_config_path() -> Path:
    """The shipped example: the mock's deployments behind the gateway in three regions."""
    from importlib import resources

    return Path(str(resources.files("aigw.gateway").joinpath("example.yaml")))
