"""Every telemetry name llmops-kit emits, in one place.

GenAI names follow the OpenTelemetry GenAI semantic conventions (semantic-conventions-genai);
our own go under ``llmops.*``. Dashboards and alert rules in ``monitoring/`` are generated
from and checked against this module, so a name here is the name in App Insights.
"""

from __future__ import annotations

# --- span operation names (gen_ai.operation.name) --------------------------------------
OP_INVOKE_AGENT = "invoke_agent"
OP_INVOKE_WORKFLOW = "invoke_workflow"
OP_CHAT = "chat"
OP_TEXT_COMPLETION = "text_completion"
OP_EXECUTE_TOOL = "execute_tool"
OP_RETRIEVAL = "retrieval"
OP_GUARDRAIL = "run_guardrail"  # proposed in semantic-conventions-genai PR #427
OP_GOVERNED_RUN = "llmops.governed_run"  # MAF middleware: a run with no recording invoke_agent (refused first)

# --- GenAI attributes ---------------------------------------------------------------------
GEN_AI_OPERATION_NAME = "gen_ai.operation.name"
GEN_AI_SYSTEM = "gen_ai.system"  # deprecated upstream, but App Insights derives "GenAI | x" from it
GEN_AI_PROVIDER_NAME = "gen_ai.provider.name"
GEN_AI_AGENT_NAME = "gen_ai.agent.name"
GEN_AI_AGENT_ID = "gen_ai.agent.id"
GEN_AI_CONVERSATION_ID = "gen_ai.conversation.id"
GEN_AI_REQUEST_MODEL = "gen_ai.request.model"
GEN_AI_REQUEST_MAX_TOKENS = "gen_ai.request.max_tokens"
GEN_AI_REQUEST_TEMPERATURE = "gen_ai.request.temperature"
GEN_AI_RESPONSE_MODEL = "gen_ai.response.model"
GEN_AI_RESPONSE_ID = "gen_ai.response.id"
GEN_AI_RESPONSE_FINISH_REASONS = "gen_ai.response.finish_reasons"
GEN_AI_RESPONSE_TTFC = "gen_ai.response.time_to_first_chunk"
GEN_AI_USAGE_INPUT_TOKENS = "gen_ai.usage.input_tokens"
GEN_AI_USAGE_OUTPUT_TOKENS = "gen_ai.usage.output_tokens"
GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS = "gen_ai.usage.cache_read.input_tokens"
GEN_AI_USAGE_CACHE_CREATION_INPUT_TOKENS = "gen_ai.usage.cache_creation.input_tokens"
GEN_AI_USAGE_REASONING_OUTPUT_TOKENS = "gen_ai.usage.reasoning.output_tokens"
GEN_AI_TOKEN_TYPE = "gen_ai.token.type"
GEN_AI_TOOL_NAME = "gen_ai.tool.name"
GEN_AI_TOOL_CALL_ID = "gen_ai.tool.call.id"
GEN_AI_TOOL_TYPE = "gen_ai.tool.type"
GEN_AI_DATA_SOURCE_ID = "gen_ai.data_source.id"
GEN_AI_INPUT_MESSAGES = "gen_ai.input.messages"
GEN_AI_OUTPUT_MESSAGES = "gen_ai.output.messages"
GEN_AI_SYSTEM_INSTRUCTIONS = "gen_ai.system_instructions"
GEN_AI_EVALUATION_NAME = "gen_ai.evaluation.name"
GEN_AI_EVALUATION_SCORE_VALUE = "gen_ai.evaluation.score.value"
GEN_AI_EVALUATION_SCORE_LABEL = "gen_ai.evaluation.score.label"
GEN_AI_EVALUATION_EXPLANATION = "gen_ai.evaluation.explanation"
ERROR_TYPE = "error.type"
# appended by the LangChain integration
GEN_AI_TOOL_DESCRIPTION = "gen_ai.tool.description"
GEN_AI_TOOL_CALL_ARGUMENTS = "gen_ai.tool.call.arguments"
GEN_AI_TOOL_CALL_RESULT = "gen_ai.tool.call.result"
GEN_AI_RETRIEVAL_QUERY_TEXT = "gen_ai.retrieval.query.text"
GEN_AI_RETRIEVAL_DOCUMENTS = "gen_ai.retrieval.documents"

# --- events -------------------------------------------------------------------------------
EVENT_EVALUATION_RESULT = "gen_ai.evaluation.result"
EVENT_GUARDRAIL_DECISION = "llmops.guardrail.decision"
EVENT_BUDGET_THRESHOLD = "llmops.budget.threshold_crossed"
EVENT_MODEL_CALL = "llmops.model_call"  # MAF chat middleware without an agent run: per-call tokens/cost

# --- llmops.* attributes ------------------------------------------------------------------
LLMOPS_RUN_ID = "llmops.run.id"
LLMOPS_RUN_STATUS = "llmops.run.status"
LLMOPS_RUN_REASON = "llmops.run.reason"
LLMOPS_TENANT_ID = "llmops.tenant.id"
LLMOPS_USER_ID = "llmops.user.id"
LLMOPS_SESSION_ID = "llmops.session.id"
LLMOPS_COST_USD = "llmops.cost.usd"
LLMOPS_COST_MICRO_USD = "llmops.cost.micro_usd"
LLMOPS_USAGE_MISSING = "llmops.usage_missing"
LLMOPS_USAGE_TOTAL_TOKENS = "llmops.usage.total_tokens"
LLMOPS_USAGE_INPUT_TOKENS = "llmops.usage.input_tokens"
LLMOPS_USAGE_OUTPUT_TOKENS = "llmops.usage.output_tokens"
LLMOPS_SAFETY_INPUT_ACTION = "llmops.safety.input.action"
LLMOPS_SAFETY_OUTPUT_ACTION = "llmops.safety.output.action"
LLMOPS_SAFETY_REASON = "llmops.safety.reason"
LLMOPS_SAFETY_ANALYZER = "llmops.safety.analyzer"
LLMOPS_SAFETY_STATUS = "llmops.safety.status"
LLMOPS_SAFETY_FINDINGS = "llmops.safety.findings"
LLMOPS_SAFETY_FAIL_OPEN = "llmops.safety.fail_open"
LLMOPS_BUDGET_DECISION = "llmops.budget.decision"
LLMOPS_BUDGET_REASON = "llmops.budget.reason"
LLMOPS_BUDGET_LIMIT = "llmops.budget.limit"
LLMOPS_BUDGET_RESERVED_TOKENS = "llmops.budget.reserved_tokens"
LLMOPS_BUDGET_RESERVED_MICRO_USD = "llmops.budget.reserved_micro_usd"
LLMOPS_BUDGET_REMAINING = "llmops.budget.remaining"
LLMOPS_BUDGET_OVER_RESERVATION = "llmops.budget.over_reservation"
LLMOPS_COST_SOURCE = "llmops.cost.source"  # "reported" usage priced, or "reservation" when usage/price was missing
LLMOPS_GUARDRAIL_STAGE = "llmops.guardrail.stage"
LLMOPS_GUARDRAIL_ACTION = "llmops.guardrail.action"
LLMOPS_GUARDRAIL_KIND = "llmops.guardrail.kind"
LLMOPS_AUDIT_LOCATION = "llmops.audit.location"
LLMOPS_EVAL_PASSED = "llmops.evaluation.passed"
#: prefix of a composite evaluator's sub-score attributes on its event: ``llmops.evaluation.part.<name>``
LLMOPS_EVAL_PART_PREFIX = "llmops.evaluation.part."
LLMOPS_TIMEOUT_S = "llmops.run.timeout_s"
LLMOPS_WORKFLOW_RUN_ID = "llmops.workflow.run.id"
LLMOPS_WORKFLOW_NAME = "llmops.workflow.name"
LLMOPS_TOOL_DECISION = "llmops.tool.decision"
LLMOPS_FAIL_MODE = "llmops.fail_mode"
# appended by the LangChain integration
LLMOPS_RETRIEVAL_DOCUMENT_COUNT = "llmops.retrieval.document_count"
LLMOPS_ORPHANED = "llmops.orphaned"  # span ended by its parent's end/error, never by its own
LLMOPS_MODEL_CALLS = "llmops.model_calls"
LLMOPS_COST_UNPRICED_CALLS = "llmops.cost.unpriced_calls"  # model calls with no price: cost is a lower bound
# appended by tail sampling
LLMOPS_SAMPLING_DECISION = "llmops.sampling.decision"  # keep | drop
LLMOPS_SAMPLING_REASON = "llmops.sampling.reason"  # error | blocked | latency | cost | ratio | dropped
LLMOPS_BUDGET_PERCENT = "llmops.budget.percent"  # soft-threshold crossings (runtime.py emits this literal)

# --- metric names -------------------------------------------------------------------------
METRIC_TOKEN_USAGE = "gen_ai.client.token.usage"
METRIC_OPERATION_DURATION = "gen_ai.client.operation.duration"
METRIC_TTFC = "gen_ai.client.operation.time_to_first_chunk"
METRIC_COST = "llmops.cost.usd"
METRIC_GUARDRAIL_DECISIONS = "llmops.guardrail.decisions"
METRIC_RUNS = "llmops.runs"
METRIC_RUN_DURATION = "llmops.run.duration"
METRIC_EVALUATION_SCORE = "llmops.evaluation.score"
METRIC_BUDGET_DENIALS = "llmops.budget.denials"
METRIC_BUDGET_THRESHOLD = "llmops.budget.threshold_crossings"
METRIC_AUDIT_SPOOL_DEPTH = "llmops.audit.spool.depth"
METRIC_SAFETY_UNAVAILABLE = "llmops.safety.unavailable"
# appended by tail sampling
METRIC_SAMPLING_TRACES = "llmops.sampling.traces"
METRIC_SAMPLING_EVICTIONS = "llmops.sampling.evictions"

#: Histogram bucket boundaries recommended by the GenAI conventions.
TOKEN_USAGE_BUCKETS = (1, 4, 16, 64, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304, 16777216, 67108864)
DURATION_BUCKETS = (0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92)

INSTRUMENTATION_SCOPE = "llmops_kit"


def span_name(operation: str, target: str | None) -> str:
    """``"{operation} {target}"`` as the conventions name spans, or just the operation."""
    return f"{operation} {target}" if target else operation
