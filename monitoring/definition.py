
"""The one definition every monitoring asset is generated from (``scripts/gen_monitoring.py``).

Panels and alert rules are written once here, each with its App Insights KQL and its
Prometheus query, using the names in ``llmops_kit.telemetry.semconv``; the generator renders
the workbook, the scheduled-query alert rules (ARM), the Grafana dashboard and the
Prometheus rules. ``tests/operate`` checks that every name the assets mention is one a
governed run really emits, so a renamed attribute breaks the build instead of a dashboard.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from llmops_kit.telemetry import semconv as sc


@dataclass(frozen=True)
class Metric:
    """An instrument as the code creates it: the Prometheus name depends on unit and kind."""

    name: str
    unit: str
    kind: str  # "counter" | "histogram"


METRICS: dict[str, Metric] = {m.name: m for m in (
    Metric(sc.METRIC_TOKEN_USAGE, "{token}", "histogram"),
    Metric(sc.METRIC_OPERATION_DURATION, "s", "histogram"),
    Metric(sc.METRIC_TTFC, "s", "histogram"),
    Metric(sc.METRIC_COST, "{USD}", "counter"),
    Metric(sc.METRIC_GUARDRAIL_DECISIONS, "{decision}", "counter"),
    Metric(sc.METRIC_RUNS, "{run}", "counter"),
    Metric(sc.METRIC_RUN_DURATION, "s", "histogram"),
    Metric(sc.METRIC_EVALUATION_SCORE, "1", "histogram"),
    Metric(sc.METRIC_BUDGET_DENIALS, "{run}", "counter"),
    Metric(sc.METRIC_BUDGET_THRESHOLD, "{crossing}", "counter"),
    Metric(sc.METRIC_SAFETY_UNAVAILABLE, "{check}", "counter"),
)}

# OTel -> Prometheus unit words (OTel "Prometheus and OpenMetrics compatibility" spec; the
# collector's prometheus / prometheusremotewrite exporters with add_metric_suffixes: true).
_UNIT_WORDS = {"s": "seconds", "ms": "milliseconds", "us": "microseconds", "ns": "nanoseconds", "min": "minutes",
               "h": "hours", "d": "days", "By": "bytes", "KiBy": "kibibytes", "MiBy": "mebibytes", "%": "percent"}


def prom_label(attribute: str) -> str:
    """Attribute -> Prometheus label: every character outside ``[a-zA-Z0-9_]`` becomes ``_``."""
    return re.sub(r"[^a-zA-Z0-9_]", "_", attribute)


def prom_name(metric: Metric) -> str:
    """Metric -> Prometheus base name: dots to underscores, unit suffix, ``_total`` for counters.

    Histograms are then queried as ``<base>_bucket`` / ``_sum`` / ``_count``.
    """
    base = prom_label(metric.name)
    unit = re.sub(r"\{[^}]*\}", "", metric.unit)
    word = _UNIT_WORDS.get(unit, unit if unit != "1" else "")
    if word and not base.endswith("_" + word):
        base = f"{base}_{prom_label(word)}"
    return f"{base}_total" if metric.kind == "counter" else base


def P(metric_name: str, suffix: str = "") -> str:
    return prom_name(METRICS[metric_name]) + suffix


def L(attribute: str) -> str:
    return prom_label(attribute)


def D(attribute: str) -> str:
    """KQL: an attribute as App Insights stores it (customDimensions, values stringified)."""
    return f'tostring(customDimensions["{attribute}"])'


# A governed run is the one span that carries llmops.run.status: "invoke_agent {name}" - ProductionAgent's and
# LangChain's, or MAF's own under the middleware ("llmops.governed_run {name}" for a MAF run refused before it ran).
RUN_SPANS = f'dependencies | where isnotempty(customDimensions["{sc.LLMOPS_RUN_STATUS}"])'


def M(metric_name: str) -> str:
    return f'customMetrics | where name == "{metric_name}"'


@dataclass(frozen=True)
class Panel:
    key: str
    title: str
    kql: str
    promql: str
    viz: str = "timeseries"  # timeseries | bar | table
    unit: str = ""
    oss_title: str = ""  # when the Prometheus query can only show a proxy of the App Insights panel


@dataclass(frozen=True)
class Alert:
    key: str
    title: str
    description: str
    severity: int  # 0 critical .. 4 verbose (Azure); mapped to Prometheus labels
    kql: str  # returns rows only when the alert should fire
    promql: str
    window_minutes: int = 15
    frequency_minutes: int = 5


def _run_quantile_ms(q: float) -> str:
    """One run-latency quantile in ms, labelled so p50/p95/p99 show as three series."""
    quantile = f'histogram_quantile({q}, sum by (le) (rate({P(sc.METRIC_RUN_DURATION, "_bucket")}[5m])))'
    return f'label_replace(1000 * {quantile}, "quantile", "p{int(q * 100)}", "", "")'


PANELS: tuple[Panel, ...] = (
    Panel("runs_by_status", "Governed runs by status",
          f'{M(sc.METRIC_RUNS)} | summarize runs = sum(valueSum) by status = {D(sc.LLMOPS_RUN_STATUS)}, '
          f'bin(timestamp, 5m) | render timechart',
          f'sum by ({L(sc.LLMOPS_RUN_STATUS)}) (rate({P(sc.METRIC_RUNS)}[5m]))'),
    Panel("latency_percentiles", "Run latency p50 / p95 / p99",
          f'{RUN_SPANS} | summarize percentiles(duration, 50, 95, 99) by bin(timestamp, 5m) | render timechart',
          " or ".join(_run_quantile_ms(q) for q in (0.5, 0.95, 0.99)),
          unit="ms"),
    Panel("ttfc", "Time to first chunk (p95)",
          f'{M(sc.METRIC_TTFC)} | summarize p95_s = max(valueMax), avg_s = sum(valueSum) / sum(valueCount) '
          f'by bin(timestamp, 5m) | render timechart',
          f'histogram_quantile(0.95, sum by (le) (rate({P(sc.METRIC_TTFC, "_bucket")}[5m])))', unit="s"),
    Panel("tokens_by_model", "Tokens by model and type",
          f'{M(sc.METRIC_TOKEN_USAGE)} | summarize tokens = sum(valueSum) by model = '
          f'{D(sc.GEN_AI_REQUEST_MODEL)}, type = {D(sc.GEN_AI_TOKEN_TYPE)}, bin(timestamp, 1h) | render columnchart',
          f'sum by ({L(sc.GEN_AI_REQUEST_MODEL)}, {L(sc.GEN_AI_TOKEN_TYPE)}) '
          f'(increase({P(sc.METRIC_TOKEN_USAGE, "_sum")}[1h]))', viz="bar"),
    Panel("cost_by_agent", "Cost (USD) by agent and model",
          f'{M(sc.METRIC_COST)} | summarize usd = sum(valueSum) by agent = {D(sc.GEN_AI_AGENT_NAME)}, '
          f'model = {D(sc.GEN_AI_REQUEST_MODEL)}, bin(timestamp, 1h) | render columnchart',
          f'sum by ({L(sc.GEN_AI_AGENT_NAME)}, {L(sc.GEN_AI_REQUEST_MODEL)}) (increase({P(sc.METRIC_COST)}[1h]))',
          viz="bar", unit="USD"),
    Panel("cost_by_tenant", "Cost (USD) and runs by tenant",
          f'{RUN_SPANS} | summarize usd = sum(todouble(customDimensions["{sc.LLMOPS_COST_USD}"])), runs = count() '
          f'by tenant = {D(sc.LLMOPS_TENANT_ID)} | order by usd desc',
          f'sum by ({L(sc.LLMOPS_TENANT_ID)}) (increase({P(sc.METRIC_RUNS)}[1h]))', viz="table",
          oss_title="Runs by tenant (cost per tenant needs the run spans: App Insights or a trace store)"),
    Panel("error_rate", "Error rate",
          f'{M(sc.METRIC_RUNS)} | summarize errors = sumif(valueSum, {D(sc.LLMOPS_RUN_STATUS)} == "error"), '
          f'total = sum(valueSum) by bin(timestamp, 5m) | extend error_rate = errors / total | '
          f'project timestamp, error_rate | render timechart',
          f'sum(rate({P(sc.METRIC_RUNS)}{{{L(sc.LLMOPS_RUN_STATUS)}="error"}}[5m])) / '
          f'sum(rate({P(sc.METRIC_RUNS)}[5m]))', unit="percentunit"),
    Panel("guardrail_blocks", "Guardrail blocks by stage, kind and reason",
          f'{M(sc.METRIC_GUARDRAIL_DECISIONS)} | where {D(sc.LLMOPS_GUARDRAIL_ACTION)} == "block" | summarize '
          f'blocks = sum(valueSum) by stage = {D(sc.LLMOPS_GUARDRAIL_STAGE)}, kind = {D(sc.LLMOPS_GUARDRAIL_KIND)}, '
          f'reason = {D(sc.LLMOPS_RUN_REASON)} | order by blocks desc',
          f'sum by ({L(sc.LLMOPS_GUARDRAIL_STAGE)}, {L(sc.LLMOPS_GUARDRAIL_KIND)}, {L(sc.LLMOPS_RUN_REASON)}) '
          f'(increase({P(sc.METRIC_GUARDRAIL_DECISIONS)}{{{L(sc.LLMOPS_GUARDRAIL_ACTION)}="block"}}[1h]))',
          viz="bar"),
    Panel("evaluation_scores", "Evaluation score (mean) by evaluator",
          f'{M(sc.METRIC_EVALUATION_SCORE)} | summarize mean = sum(valueSum) / sum(valueCount) by evaluator = '
          f'{D(sc.GEN_AI_EVALUATION_NAME)}, bin(timestamp, 1h) | render timechart',
          f'sum by ({L(sc.GEN_AI_EVALUATION_NAME)}) (rate({P(sc.METRIC_EVALUATION_SCORE, "_sum")}[1h])) / '
          f'sum by ({L(sc.GEN_AI_EVALUATION_NAME)}) (rate({P(sc.METRIC_EVALUATION_SCORE, "_count")}[1h]))'),
    Panel("evaluation_events", "Evaluation results (events) by evaluator and label",
          f'customEvents | where name == "{sc.EVENT_EVALUATION_RESULT}" | summarize results = count(), mean = '
          f'avg(todouble(customDimensions["{sc.GEN_AI_EVALUATION_SCORE_VALUE}"])) by evaluator = '
          f'{D(sc.GEN_AI_EVALUATION_NAME)}, label = {D(sc.GEN_AI_EVALUATION_SCORE_LABEL)}',
          f'sum by ({L(sc.GEN_AI_EVALUATION_NAME)}) (increase({P(sc.METRIC_EVALUATION_SCORE, "_count")}[1h]))',
          viz="table"),
    Panel("budget", "Budget denials and soft-threshold crossings",
          f'{M(sc.METRIC_BUDGET_THRESHOLD)} | summarize crossings = sum(valueSum) by limit = '
          f'{D(sc.LLMOPS_BUDGET_LIMIT)}, percent = {D(sc.LLMOPS_BUDGET_PERCENT)}, bin(timestamp, 1h)',
          f'sum by ({L(sc.LLMOPS_BUDGET_LIMIT)}) (increase({P(sc.METRIC_BUDGET_DENIALS)}[1h]))', viz="bar"),
    Panel("top_sessions", "Top costly sessions",
          f'{RUN_SPANS} | summarize usd = sum(todouble(customDimensions["{sc.LLMOPS_COST_USD}"])), runs = count(), '
          f'tokens = sum(toint(customDimensions["{sc.LLMOPS_USAGE_TOTAL_TOKENS}"])) by session = '
          f'{D(sc.LLMOPS_SESSION_ID)} | top 20 by usd desc',
          f'topk(20, sum by ({L(sc.LLMOPS_TENANT_ID)}) (increase({P(sc.METRIC_RUNS)}[24h])))', viz="table",
          oss_title="Busiest tenants, 24h (per-session cost needs the run spans: App Insights or a trace store)"),
)

ALERTS: tuple[Alert, ...] = (
    Alert("cost_spike", "LLM cost spike",
          "Spend in the last hour is over 3x the hourly average of the previous day (and over $1).",
          2,
          f'let recent = toscalar({M(sc.METRIC_COST)} | where timestamp > ago(1h) | summarize sum(valueSum)); '
          f'let baseline = toscalar({M(sc.METRIC_COST)} | where timestamp between (ago(25h) .. ago(1h)) | '
          f'summarize sum(valueSum) / 24.0); print recent = recent, baseline = baseline | '
          f'where recent > 1.0 and recent > 3 * baseline',
          f'sum(increase({P(sc.METRIC_COST)}[1h])) > 1 and sum(increase({P(sc.METRIC_COST)}[1h])) > '
          f'3 * (sum(increase({P(sc.METRIC_COST)}[1d] offset 1h)) / 24)',
          window_minutes=1500, frequency_minutes=15),
    Alert("latency_p95", "Agent latency p95 above 10 s",
          "The 95th percentile of governed run duration over 15 minutes is above 10 seconds.", 2,
          f'{RUN_SPANS} | summarize p95 = percentile(duration, 95), runs = count() | where runs >= 5 and p95 > 10000',
          f'histogram_quantile(0.95, sum by (le) (rate({P(sc.METRIC_RUN_DURATION, "_bucket")}[15m]))) > 10'),
    Alert("error_rate", "Agent error rate above 5 %",
          "More than 5 % of governed runs ended with status error in 15 minutes.", 1,
          f'{M(sc.METRIC_RUNS)} | summarize errors = sumif(valueSum, {D(sc.LLMOPS_RUN_STATUS)} == "error"), '
          f'total = sum(valueSum) | where total >= 10 and errors / total > 0.05',
          f'sum(rate({P(sc.METRIC_RUNS)}{{{L(sc.LLMOPS_RUN_STATUS)}="error"}}[15m])) / '
          f'sum(rate({P(sc.METRIC_RUNS)}[15m])) > 0.05'),
    Alert("quality_drop", "Evaluation quality drop",
          "The mean evaluator score over the last hour fell below 0.7 (hallucination / groundedness drift).", 2,
          f'{M(sc.METRIC_EVALUATION_SCORE)} | summarize mean = sum(valueSum) / sum(valueCount), n = '
          f'sum(valueCount) by evaluator = {D(sc.GEN_AI_EVALUATION_NAME)} | where n >= 10 and mean < 0.7',
          f'(sum by ({L(sc.GEN_AI_EVALUATION_NAME)}) (rate({P(sc.METRIC_EVALUATION_SCORE, "_sum")}[1h])) / '
          f'sum by ({L(sc.GEN_AI_EVALUATION_NAME)}) (rate({P(sc.METRIC_EVALUATION_SCORE, "_count")}[1h]))) < 0.7',
          window_minutes=60, frequency_minutes=15),
    Alert("guardrail_block_surge", "Guardrail block surge",
          "More than 20 % of guardrail decisions in 15 minutes were blocks (attack or misconfigured policy).", 2,
          f'{M(sc.METRIC_GUARDRAIL_DECISIONS)} | summarize blocks = sumif(valueSum, {D(sc.LLMOPS_GUARDRAIL_ACTION)} '
          f'== "block"), total = sum(valueSum) | where total >= 10 and blocks / total > 0.2',
          f'sum(rate({P(sc.METRIC_GUARDRAIL_DECISIONS)}{{{L(sc.LLMOPS_GUARDRAIL_ACTION)}="block"}}[15m])) / '
          f'sum(rate({P(sc.METRIC_GUARDRAIL_DECISIONS)}[15m])) > 0.2'),
    Alert("quota_burn", "Budget quota burn",
          "A budget limit crossed 80 % or more of its window, or runs are being denied by a budget.", 2,
          f'{M(sc.METRIC_BUDGET_THRESHOLD)} | where toint(customDimensions["{sc.LLMOPS_BUDGET_PERCENT}"]) >= 80 | '
          f'summarize crossings = sum(valueSum) by limit = {D(sc.LLMOPS_BUDGET_LIMIT)} | where crossings > 0',
          f'sum by ({L(sc.LLMOPS_BUDGET_LIMIT)}) (increase({P(sc.METRIC_BUDGET_THRESHOLD)}[15m])) > 0 or '
          f'sum by ({L(sc.LLMOPS_BUDGET_LIMIT)}) (increase({P(sc.METRIC_BUDGET_DENIALS)}[15m])) > 0'),
    Alert("circuit_breaker_open", "Safety service unavailable (circuit open)",
          "Content-safety checks could not run: runs are failing open (unchecked) or closed (blocked).", 1,
          f'{M(sc.METRIC_SAFETY_UNAVAILABLE)} | summarize failures = sum(valueSum) by stage = '
          f'{D(sc.LLMOPS_GUARDRAIL_STAGE)} | where failures > 0',
          f'sum by ({L(sc.LLMOPS_GUARDRAIL_STAGE)}) (increase({P(sc.METRIC_SAFETY_UNAVAILABLE)}[5m])) > 0',
          window_minutes=5),
    Alert("context_overflow", "Context window overflow",
          "Model calls or runs failed because the prompt exceeded the model's context window.", 2,
          f'{RUN_SPANS} | where {D(sc.ERROR_TYPE)} has_any ("ContextOverflowError", "context_length_exceeded", '
          f'"ContextWindowExceededError") | summarize overflows = count() | where overflows > 0',
          f'sum(increase({P(sc.METRIC_OPERATION_DURATION, "_count")}{{{L(sc.ERROR_TYPE)}=~'
          f'".*(ContextOverflowError|context_length_exceeded|ContextWindowExceededError)"}}[15m])) > 0'),
)
