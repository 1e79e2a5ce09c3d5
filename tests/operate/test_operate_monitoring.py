"""Monitoring assets: generated from one definition, and every name they use is really emitted."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest
import yaml
from monitoring.definition import ALERTS, Metric, prom_name
from tests.operate.governed import Recorded
from tests.operate.names import SEMCONV_VALUES, Names, emitted, kql_names, promql_names

ROOT = Path(__file__).resolve().parents[2]
ALERT_KEYS = {"cost_spike", "latency_p95", "error_rate", "quality_drop", "guardrail_block_surge",
              "quota_burn", "circuit_breaker_open", "context_overflow"}


def _generator():
    spec = importlib.util.spec_from_file_location("gen_monitoring", ROOT / "scripts" / "gen_monitoring.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("gen_monitoring", module)
    spec.loader.exec_module(module)
    return module


def _committed_kql() -> list[str]:
    workbook = json.loads((ROOT / "monitoring/azure/workbook.json").read_text())
    arm = json.loads((ROOT / "monitoring/azure/azuredeploy.json").read_text())
    queries = [i["content"]["query"] for i in workbook["items"] if i["type"] == 3]
    for res in arm["resources"]:
        if res["type"] == "Microsoft.Insights/scheduledQueryRules":
            queries += [c["query"] for c in res["properties"]["criteria"]["allOf"]]
        if res["type"] == "Microsoft.Insights/workbooks":
            embedded = json.loads(res["properties"]["serializedData"])
            queries += [i["content"]["query"] for i in embedded["items"] if i["type"] == 3]
    return queries


def _committed_promql() -> list[str]:
    dashboard = json.loads((ROOT / "monitoring/grafana/llmops-dashboard.json").read_text())
    rules = yaml.safe_load((ROOT / "monitoring/prometheus/llmops-alerts.yml").read_text())
    exprs = [t["expr"] for p in dashboard["panels"] for t in p["targets"]]
    return exprs + [r["expr"] for g in rules["groups"] for r in g["rules"]]


def test_committed_assets_equal_generator_output() -> None:
    for rel, content in _generator().render().items():
        path = ROOT / rel
        assert path.exists(), f"{rel} missing: run python scripts/gen_monitoring.py"
        assert path.read_text(encoding="utf-8") == content, f"{rel} is stale: run scripts/gen_monitoring.py"


def test_every_alert_is_in_both_stacks() -> None:
    assert {a.key for a in ALERTS} == ALERT_KEYS
    arm = json.loads((ROOT / "monitoring/azure/azuredeploy.json").read_text())
    rules = [r for r in arm["resources"] if r["type"] == "Microsoft.Insights/scheduledQueryRules"]
    assert len(rules) == len(ALERT_KEYS)
    for r in rules:
        p = r["properties"]
        assert p["scopes"] == ["[parameters('appInsightsId')]"]
        assert p["criteria"]["allOf"][0]["query"].strip()
        freq, window = (int(p[k].removeprefix("PT").removesuffix("M"))
                        for k in ("evaluationFrequency", "windowSize"))
        assert 1 <= freq <= window <= 2880
    prom = yaml.safe_load((ROOT / "monitoring/prometheus/llmops-alerts.yml").read_text())
    assert len(prom["groups"][0]["rules"]) == len(ALERT_KEYS)
    kql_tables = " ".join(_committed_kql())
    for table in ("dependencies", "customMetrics", "customEvents"):
        assert table in kql_tables


def test_prometheus_name_translation_follows_the_spec() -> None:
    # examples from the OTel "Prometheus and OpenMetrics compatibility" spec
    duration = Metric("http.server.request.duration", "s", "histogram")
    assert prom_name(duration) == "http_server_request_duration_seconds"
    requests = Metric("http.server.requests", "{request}", "counter")
    assert prom_name(requests) == "http_server_requests_total"
    assert prom_name(Metric("system.memory.usage", "By", "counter")) == "system_memory_usage_bytes_total"
    assert prom_name(Metric("llmops.evaluation.score", "1", "histogram")) == "llmops_evaluation_score"
    assert prom_name(Metric("db.latency_seconds", "s", "histogram")) == "db_latency_seconds"


def _union(parts: list[Names]) -> Names:
    out = Names()
    for p in parts:
        for attr in vars(out):
            getattr(out, attr).update(getattr(p, attr))
    return out


def test_kql_names_are_emitted(workload: Recorded) -> None:
    real = emitted(workload)
    used = _union([kql_names(q) for q in _committed_kql()])
    assert used.metrics and used.attributes and used.events  # run spans are found by attribute, not name
    assert used.metrics - real.metrics == set(), "metrics the KQL reads but no governed run emits"
    assert used.attributes - real.attributes == set(), "attributes the KQL reads but no governed run emits"
    assert used.events - real.events == set(), "events the KQL reads but no governed run emits"
    assert used.operations - real.operations == set(), "span operations the KQL reads but no run emits"
    assert used.metrics | used.attributes | used.events | used.operations <= SEMCONV_VALUES


def test_promql_names_are_emitted(workload: Recorded) -> None:
    real = emitted(workload)
    used = _union([promql_names(e) for e in _committed_promql()])
    assert used.prom_metrics - real.prom_metrics == set(), "Prometheus series no governed run produces"
    assert used.prom_labels - real.prom_labels == set(), "Prometheus labels no governed run produces"


def test_checker_catches_a_defined_but_never_emitted_name(workload: Recorded) -> None:
    # llmops.sampling.traces is defined in semconv but a run without tail sampling never emits it
    real = emitted(workload)
    bogus = kql_names('customMetrics | where name == "llmops.sampling.traces" | summarize sum(valueSum) by '
                      'tostring(customDimensions["llmops.sampling.reason"])')
    assert "llmops.sampling.traces" in SEMCONV_VALUES
    assert bogus.metrics - real.metrics == {"llmops.sampling.traces"}
    assert bogus.attributes - real.attributes == {"llmops.sampling.reason"}
    with pytest.raises(AssertionError):
        kql_names('traces | where name == "x"')
    assert promql_names("sum(rate(llmops_runs_total{llmops_run_status=\"error\"}[5m]))").prom_metrics == {
        "llmops_runs_total"}
