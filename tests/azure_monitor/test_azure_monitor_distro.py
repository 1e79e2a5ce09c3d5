"""``configure_telemetry`` in App Insights mode, through the real distro, into a local ingestion server.

Each test runs ``scenarios/governed_run.py`` in a fresh interpreter (the distro installs
global providers once per process) and asserts on the envelopes App Insights would store.
"""

from __future__ import annotations

from typing import Any

from tests.fixtures.appinsights_capture import (
    CaptureServer,
    base_data,
    base_type,
    for_run,
    metric_names,
    props,
    tags,
)

EVENT = "gen_ai.evaluation.result"


def _deps(envelopes: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {}
    for e in envelopes:
        if base_type(e) == "RemoteDependencyData":
            out.setdefault(base_data(e)["name"], []).append(e)
    return out


def _metric_values(envelopes: list[dict[str, Any]], name: str) -> list[tuple[float, dict[str, str]]]:
    return [(m["value"], props(e)) for e in envelopes if base_type(e) == "MetricData"
            for m in base_data(e)["metrics"] if m["name"] == name]


def test_governed_run_arrives_as_app_insights_stores_it(appinsights_capture: CaptureServer, distro_env,
                                                         run_scenario) -> None:
    out = run_scenario("governed_run", "--maf-style-span", env=distro_env)
    assert out["status"] == "ok" and out["mode"] == "azure"
    assert out["destination"] == appinsights_capture.url
    assert out["blocked_network"] == []  # no statsbeat, IMDS or OneSettings traffic
    paths = {path for path, _ in appinsights_capture.state.requests}
    assert paths == {"/v2.1/track"}

    envelopes = appinsights_capture.envelopes()
    run = for_run(envelopes, out["run_id"])
    deps = _deps(run)
    assert sorted((name, len(v)) for name, v in deps.items()) == [
        ("chat gpt-4o-mini", 2), ("execute_tool lookup_policy", 1), ("invoke_agent support", 1)]

    # --- the dependency type the portal's agent views key on ---------------------------------
    (root,) = deps["invoke_agent support"]
    tool = deps["execute_tool lookup_policy"][0]
    assert base_data(root)["type"] == "GenAI | llmops_kit"
    assert {base_data(c)["type"] for c in deps["chat gpt-4o-mini"]} == {"GenAI | openai"}
    assert {base_data(c)["target"] for c in deps["chat gpt-4o-mini"]} == {"openai"}
    assert base_data(tool)["type"] == "GenAI | llmops_kit"  # inherited from its agent by the bridge

    # --- one operation, the right tree ------------------------------------------------------
    assert {tags(e)["ai.operation.id"] for e in run} == {out["trace_id"]}
    root_id = base_data(root)["id"]
    assert "ai.operation.parentId" not in tags(root)
    for child in [*deps["chat gpt-4o-mini"], tool]:
        assert tags(child)["ai.operation.parentId"] == root_id

    # --- customDimensions -------------------------------------------------------------------
    rp = props(root)
    assert rp["llmops.run.id"] == out["run_id"]
    assert (rp["gen_ai.agent.name"], rp["gen_ai.conversation.id"]) == ("support", "s-42")
    assert (rp["llmops.tenant.id"], rp["llmops.user.id"]) == ("contoso", "u-1001")
    assert rp["gen_ai.operation.name"] == "invoke_agent"
    chats = [props(c) for c in deps["chat gpt-4o-mini"]]
    for cp in chats:
        assert cp["gen_ai.request.model"] == "gpt-4o-mini" and cp["gen_ai.operation.name"] == "chat"
        assert int(cp["gen_ai.usage.input_tokens"]) > 0 and int(cp["gen_ai.usage.output_tokens"]) > 0
        assert float(cp["llmops.cost.usd"]) > 0
        assert cp["microsoft.gen_ai.main_agent.name"] == "support"
    assert props(tool)["gen_ai.tool.name"] == "lookup_policy"
    assert all(tags(e)["ai.cloud.role"] == "llmops-kit-app" for e in run)

    # --- metrics: tokens, cost, duration ------------------------------------------------------
    assert {"gen_ai.client.token.usage", "llmops.cost.usd", "gen_ai.client.operation.duration"} <= \
        metric_names(envelopes)
    tokens = _metric_values(envelopes, "gen_ai.client.token.usage")
    by_type = {p["gen_ai.token.type"]: v for v, p in tokens}
    assert by_type == {"input": sum(int(c["gen_ai.usage.input_tokens"]) for c in chats),
                       "output": sum(int(c["gen_ai.usage.output_tokens"]) for c in chats)}
    (cost, cost_props), = _metric_values(envelopes, "llmops.cost.usd")
    assert abs(cost - sum(float(c["llmops.cost.usd"]) for c in chats)) < 1e-6  # spans round to 6 places
    assert cost_props["gen_ai.request.model"] == "gpt-4o-mini"
    assert _metric_values(envelopes, "gen_ai.client.operation.duration")

    # --- the evaluation event: a customEvent under the run's operation, parented to invoke_agent -----
    events = [e for e in run if base_type(e) == "EventData"]
    assert [base_data(e)["name"] for e in events] == [EVENT], "exactly one customEvent per evaluation"
    (event,) = events
    assert tags(event)["ai.operation.parentId"] == root_id
    ep = props(event)
    assert (ep["gen_ai.evaluation.name"], ep["gen_ai.evaluation.score.value"]) == ("cites_source", "1.0")
    assert ep["llmops.evaluation.passed"] == "True"

    # --- the library's own INFO log line, inside the run: a trace row carrying the run's fields ------
    (line,) = [e for e in run if base_type(e) == "MessageData" and "scored run" in base_data(e)["message"]]
    lp = props(line)
    fields = (lp["llmops.run.id"], lp["llmops.tenant.id"], lp["gen_ai.agent.name"])
    assert fields == (out["run_id"], "contoso", "support")
    assert tags(line)["ai.operation.id"] == out["trace_id"]

    # --- a span with only gen_ai.provider.name (as MAF emits) still gets its GenAI type -----------
    (maf,) = [e for e in envelopes if props(e).get("llmops.run.id") == "maf-" + out["run_id"]]
    assert base_data(maf)["type"] == "GenAI | azure.ai.openai"


def test_undeliverable_telemetry_goes_to_the_configured_storage_directory(
    appinsights_capture: CaptureServer, distro_env, run_scenario, tmp_path
) -> None:
    appinsights_capture.go_down()  # nothing can be delivered: everything must be kept on disk
    out = run_scenario("governed_run", env=distro_env)
    assert out["status"] == "ok"
    stored = [p for p in (tmp_path / "ai-storage").rglob("*") if ".blob" in p.name]
    assert stored, "undeliverable telemetry must be written to TELEMETRY_STORAGE_DIRECTORY"
