"""Settings from ``.env`` and the environment, validated once at start-up.

Every error names the variable and the accepted form in one line and never echoes a
secret value (keys and connection strings are ``SecretStr``). ``Settings.load()`` is the
entry point the CLI, samples and ``runtime.build_runtime`` use.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Literal

from pydantic import AliasChoices, Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

TelemetryMode = Literal["auto", "azure", "otlp", "console", "local", "off"]
FailMode = Literal["closed", "open"]
EvalMode = Literal["inline", "background", "off"]

_UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")

#: Secret-bearing fields; their values never appear in messages.
SECRET_FIELDS = frozenset(
    {
        "applicationinsights_connection_string",
        "content_safety_key",
        "audit_storage_connection_string",
        "redis_url",
        "azure_openai_api_key",
        "evaluation_judge_api_key",
    }
)


class SettingsError(ValueError):
    """A setting is invalid. ``str()`` is one line: variable, problem, accepted form."""

    def __init__(self, variable: str, problem: str, accepted: str) -> None:
        self.variable = variable
        super().__init__(f"{variable}: {problem}; expected {accepted}")


def parse_connection_string(value: str, variable: str) -> dict[str, str]:
    """Split ``Key=Value;Key=Value`` strictly, naming the variable (not the value) on error."""
    parts: dict[str, str] = {}
    for chunk in value.strip().split(";"):
        if not chunk.strip():
            continue
        if "=" not in chunk:
            raise SettingsError(variable, "malformed connection string (a part has no '=')", "Key=Value;Key=Value")
        key, _, val = chunk.partition("=")
        parts[key.strip().lower()] = val.strip()
    return parts


class Settings(BaseSettings):
    """All llmops-kit configuration. Field names map to upper-case environment variables."""

    model_config = SettingsConfigDict(
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        case_sensitive=False,
        validate_default=True,
        populate_by_name=True,
    )

    # --- service identity ---------------------------------------------------------------
    service_name: str = Field("llmops-kit-app", validation_alias=AliasChoices("OTEL_SERVICE_NAME", "SERVICE_NAME"))
    environment: str = Field("dev", validation_alias=AliasChoices("LLMOPS_ENVIRONMENT", "ENVIRONMENT"))
    data_dir: Path = Field(Path(".llmops"), validation_alias=AliasChoices("LLMOPS_DATA_DIR"))

    # --- telemetry ----------------------------------------------------------------------
    telemetry: TelemetryMode = Field("auto", validation_alias=AliasChoices("LLMOPS_TELEMETRY"))
    applicationinsights_connection_string: SecretStr | None = None
    otel_exporter_otlp_endpoint: str | None = None
    enable_sensitive_data: bool = False
    enable_instrumentation: bool = True
    telemetry_sampling_ratio: float = Field(1.0, ge=0.0, le=1.0)
    telemetry_enable_live_metrics: bool = False
    telemetry_enable_performance_counters: bool | None = None
    telemetry_storage_directory: Path | None = None
    telemetry_read_timeout_seconds: float = Field(10.0, gt=0)
    telemetry_metric_export_interval_seconds: float = Field(60.0, gt=0)
    tail_sampling_enabled: bool = False
    tail_sampling_ratio: float = Field(0.1, ge=0.0, le=1.0)
    tail_sampling_latency_ms: float | None = Field(10_000.0, gt=0)
    tail_sampling_cost_usd: float | None = Field(0.05, gt=0)
    tail_sampling_max_traces: int = Field(2048, ge=1)
    tail_sampling_max_spans: int = Field(50_000, ge=1)

    # --- content safety -----------------------------------------------------------------
    content_safety_endpoint: str | None = None
    content_safety_key: SecretStr | None = None
    content_safety_fail_mode: FailMode = "closed"
    content_safety_timeout_seconds: float = Field(5.0, gt=0)
    content_safety_max_retries: int = Field(2, ge=0, le=10)
    content_safety_breaker_failures: int = Field(5, ge=1)
    content_safety_breaker_cooldown_seconds: float = Field(30.0, gt=0)
    content_safety_blocklists: list[str] = Field(default_factory=list)
    content_safety_prompt_shields: bool = True
    safety_threshold_hate: int = Field(4, ge=0, le=7)
    safety_threshold_selfharm: int = Field(4, ge=0, le=7)
    safety_threshold_sexual: int = Field(4, ge=0, le=7)
    safety_threshold_violence: int = Field(4, ge=0, le=7)
    safety_block_pii_in_output: bool = False
    safety_check_output: bool = True

    # --- audit --------------------------------------------------------------------------
    audit_storage_connection_string: SecretStr | None = None
    audit_storage_account_url: str | None = None
    audit_container: str = "llmops-audit"
    audit_dir: Path | None = None
    audit_redact_pii: bool = True
    audit_batch_max_records: int = Field(500, ge=1)
    audit_batch_max_age_seconds: float = Field(1.0, gt=0)
    audit_spool_max_bytes: int = Field(512 * 1024 * 1024, ge=1024)
    audit_spool_dir: Path | None = None
    audit_flush_timeout_seconds: float = Field(10.0, gt=0)

    # --- budgets ------------------------------------------------------------------------
    redis_url: SecretStr | None = None
    budget_ledger: Literal["auto", "memory", "sqlite", "redis"] = "auto"
    budget_db_path: Path | None = None
    budget_fail_mode: FailMode = "closed"
    budget_policy_file: Path | None = None
    budget_timezone: str = "UTC"
    budget_lease_seconds: float = Field(120.0, gt=0)
    max_tokens_per_request: int | None = Field(None, ge=1)
    max_output_tokens: int = Field(1024, ge=1)
    daily_token_budget: int | None = Field(None, ge=1)
    daily_cost_budget_usd: float | None = Field(None, gt=0)
    monthly_cost_budget_usd: float | None = Field(None, gt=0)
    tenant_daily_cost_budget_usd: float | None = Field(None, gt=0)
    budget_tenant_overrides: str | None = None
    budget_soft_thresholds: str = "50,80,100"
    budget_redis_prefix: str = "llmops-budget"
    user_daily_token_budget: int | None = Field(None, ge=1)

    # --- tool policy (MAF function middleware, LangChain guard) -------------------------
    tool_allow_list: list[str] | None = None
    tool_deny_list: list[str] = Field(default_factory=list)
    tool_check_arguments: bool = False
    tool_policy_fail_mode: FailMode = "closed"

    # --- pricing ------------------------------------------------------------------------
    pricing_file: Path | None = None
    default_model: str = "gpt-4o-mini"
    unknown_model_price: Literal["error", "default"] = "default"
    default_input_usd_per_mtok: float = Field(2.50, ge=0)
    default_output_usd_per_mtok: float = Field(10.00, ge=0)

    # --- evaluation ---------------------------------------------------------------------
    evaluation_mode: EvalMode = "inline"
    evaluation_sample_rate: float = Field(1.0, ge=0.0, le=1.0)
    evaluation_gate: bool = False
    evaluation_judge_endpoint: str | None = None
    evaluation_judge_api_key: SecretStr | None = None
    evaluation_judge_deployment: str | None = None
    evaluation_judge_kind: Literal["auto", "azure_openai", "openai"] = "auto"
    evaluation_judge_api_version: str = "2024-10-21"
    evaluation_timeout_seconds: float = Field(30.0, gt=0)
    evaluation_embeddings: bool = False

    # --- runs ---------------------------------------------------------------------------
    run_timeout_seconds: float = Field(120.0, gt=0)
    max_query_chars: int = Field(200_000, ge=1)

    # --- Azure OpenAI (samples) ---------------------------------------------------------
    azure_openai_endpoint: str | None = None
    azure_openai_api_key: SecretStr | None = None
    azure_openai_deployment: str | None = Field(
        None, validation_alias=AliasChoices("AZURE_OPENAI_DEPLOYMENT", "AZURE_OPENAI_CHAT_DEPLOYMENT_NAME")
    )
    azure_openai_api_version: str = "2024-10-21"
    azure_openai_model: str | None = None

    # --- validators ---------------------------------------------------------------------
    @field_validator("telemetry", "content_safety_fail_mode", "budget_fail_mode", "evaluation_mode",
                     "tool_policy_fail_mode",
                     "budget_ledger", "unknown_model_price", mode="before")
    @classmethod
    def _lower(cls, v: Any) -> Any:
        return v.strip().lower() if isinstance(v, str) else v

    @field_validator("applicationinsights_connection_string")
    @classmethod
    def _check_ai_conn(cls, v: SecretStr | None) -> SecretStr | None:
        if v is None or not v.get_secret_value().strip():
            return None
        raw = v.get_secret_value().strip()
        if raw.endswith(";"):
            raw = raw.rstrip(";")  # the exporter rejects a trailing ';'
        parts = parse_connection_string(raw, "APPLICATIONINSIGHTS_CONNECTION_STRING")
        ikey = parts.get("instrumentationkey", "")
        if not _UUID.match(ikey.lower()):
            raise SettingsError(
                "APPLICATIONINSIGHTS_CONNECTION_STRING",
                "InstrumentationKey is missing or not a UUID",
                "InstrumentationKey=<uuid>;IngestionEndpoint=https://<region>.in.applicationinsights.azure.com/",
            )
        return SecretStr(raw)

    @field_validator("audit_storage_connection_string")
    @classmethod
    def _check_blob_conn(cls, v: SecretStr | None) -> SecretStr | None:
        if v is None or not v.get_secret_value().strip():
            return None
        raw = v.get_secret_value().strip()
        if raw == "UseDevelopmentStorage=true":
            return v
        parts = parse_connection_string(raw, "AUDIT_STORAGE_CONNECTION_STRING")
        if "accountname" not in parts and "blobendpoint" not in parts:
            raise SettingsError(
                "AUDIT_STORAGE_CONNECTION_STRING",
                "needs AccountName or BlobEndpoint",
                "DefaultEndpointsProtocol=https;AccountName=<name>;AccountKey=<key>;EndpointSuffix=core.windows.net",
            )
        return v

    @field_validator("redis_url")
    @classmethod
    def _check_redis(cls, v: SecretStr | None) -> SecretStr | None:
        if v is None or not v.get_secret_value().strip():
            return None
        if not re.match(r"^rediss?://|^unix://", v.get_secret_value().strip()):
            raise SettingsError("REDIS_URL", "unsupported scheme", "redis://host:6379/0, rediss://… or unix://…")
        return v

    @field_validator("content_safety_endpoint", "audit_storage_account_url", "otel_exporter_otlp_endpoint",
                     "azure_openai_endpoint", "evaluation_judge_endpoint")
    @classmethod
    def _check_url(cls, v: str | None) -> str | None:
        if v is None or not v.strip():
            return None
        if not re.match(r"^https?://[^\s/]+", v.strip()):
            raise ValueError("not an http(s) URL")
        return v.strip()

    @field_validator("budget_timezone")
    @classmethod
    def _check_tz(cls, v: str) -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(v)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError("unknown IANA time zone") from exc
        return v

    @model_validator(mode="after")
    def _check_budget_policy(self) -> Settings:
        """Parse the budget policy inputs now, so a typo fails at start-up, not in the first run."""
        from llmops_kit.budget.policy import BudgetPolicy, BudgetPolicyError

        try:
            BudgetPolicy.from_settings_values(
                tenant_overrides=self.budget_tenant_overrides, soft_thresholds=self.budget_soft_thresholds
            )
        except (BudgetPolicyError, ValueError) as exc:
            variable = "BUDGET_SOFT_THRESHOLDS" if "soft" in str(exc) else "BUDGET_TENANT_OVERRIDES"
            raise SettingsError(variable, str(exc).splitlines()[0][:200],
                                '50,80,100 / {"acme": {"daily_cost_budget_usd": 25}}') from None
        if self.budget_policy_file is not None:
            try:
                BudgetPolicy.load_file(self.budget_policy_file)
            except (BudgetPolicyError, OSError, ValueError) as exc:
                raise SettingsError("BUDGET_POLICY_FILE", str(exc).splitlines()[0][:200],
                                    "a readable YAML/JSON policy file (see docs/budgets.md)") from None
        if self.max_tokens_per_request is not None and self.max_tokens_per_request <= self.max_output_tokens:
            raise SettingsError(
                "MAX_TOKENS_PER_REQUEST",
                f"{self.max_tokens_per_request} leaves no room for input: every request reserves "
                f"MAX_OUTPUT_TOKENS={self.max_output_tokens} output tokens",
                "a limit above MAX_OUTPUT_TOKENS, or a lower MAX_OUTPUT_TOKENS",
            )
        return self

    @model_validator(mode="after")
    def _check_combinations(self) -> Settings:
        if self.telemetry == "azure" and self.applicationinsights_connection_string is None:
            raise SettingsError("LLMOPS_TELEMETRY", "is 'azure' but APPLICATIONINSIGHTS_CONNECTION_STRING is unset",
                                "a connection string, or LLMOPS_TELEMETRY=auto|local")
        if self.telemetry == "otlp" and not self.otel_exporter_otlp_endpoint:
            raise SettingsError("LLMOPS_TELEMETRY", "is 'otlp' but OTEL_EXPORTER_OTLP_ENDPOINT is unset",
                                "http://localhost:4318, or LLMOPS_TELEMETRY=auto|local")
        if self.budget_ledger == "redis" and self.redis_url is None:
            raise SettingsError("BUDGET_LEDGER", "is 'redis' but REDIS_URL is unset", "REDIS_URL=redis://host:6379/0")
        return self

    # --- derived ------------------------------------------------------------------------
    @property
    def resolved_audit_dir(self) -> Path:
        return self.audit_dir or (self.data_dir / "audit")

    @property
    def telemetry_dir(self) -> Path:
        return self.data_dir / "telemetry"

    @property
    def resolved_budget_db_path(self) -> Path:
        return self.budget_db_path or (self.data_dir / "budget.sqlite3")

    @property
    def safety_thresholds(self) -> dict[str, int]:
        return {
            "Hate": self.safety_threshold_hate,
            "SelfHarm": self.safety_threshold_selfharm,
            "Sexual": self.safety_threshold_sexual,
            "Violence": self.safety_threshold_violence,
        }

    @classmethod
    def load(cls, env_file: str | Path | None = ".env", **overrides: Any) -> Settings:
        """Load and validate; raises :class:`SettingsError` with one clear line."""
        try:
            return cls(_env_file=env_file, **overrides)  # type: ignore[call-arg]
        except SettingsError:
            raise
        except ValidationError as exc:
            raise _to_settings_error(exc) from None


def _to_settings_error(exc: ValidationError) -> SettingsError:
    err = exc.errors()[0]
    loc = [str(p) for p in err.get("loc", ()) if p != "__root__"]
    field = _field_for(loc[0]) if loc else "settings"
    ctx = err.get("ctx") or {}
    inner = ctx.get("error")
    if isinstance(inner, SettingsError):
        return inner
    variable = _variable_name(field)
    accepted = _accepted_form(field, err)
    # pydantic's message never includes the input when we build it ourselves; strip values
    problem = str(inner) if inner else err.get("msg", "invalid value")
    problem = problem.replace("Value error, ", "")
    return SettingsError(variable, problem, accepted)


def _field_for(name: str) -> str:
    """Map an environment alias (``LLMOPS_TELEMETRY``) back to its field name."""
    if name in Settings.model_fields:
        return name
    for field, info in Settings.model_fields.items():
        choices = getattr(info.validation_alias, "choices", None) or ()
        if any(str(c).lower() == name.lower() for c in choices):
            return field
    return name.lower()


def _variable_name(field: str) -> str:
    info = Settings.model_fields.get(field)
    if info is not None and info.validation_alias is not None:
        alias = info.validation_alias
        choices = getattr(alias, "choices", None)
        if choices:
            return str(choices[0]).upper()
        return str(alias).upper()
    return field.upper()


def _accepted_form(field: str, err: dict[str, Any]) -> str:
    info = Settings.model_fields.get(field)
    annotation = str(info.annotation) if info else ""
    if "Literal" in annotation:
        options = re.findall(r"'([^']+)'", annotation)
        return " | ".join(options)
    etype = err.get("type", "")
    ctx = err.get("ctx") or {}
    if etype in {"greater_than_equal", "greater_than", "less_than_equal", "less_than"}:
        bounds = ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in ctx.items())
        return f"a number ({bounds})"
    if "int" in etype:
        return "a whole number"
    if "float" in etype:
        return "a number"
    if "bool" in etype:
        return "true | false"
    if field.endswith("endpoint") or field.endswith("url"):
        return "an http(s):// URL"
    if field == "budget_timezone":
        return "an IANA zone such as Europe/Berlin"
    return "see samples/.env.example"
