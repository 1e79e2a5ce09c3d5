"""Render every monitoring asset from ``monitoring/definition.py``.

    python scripts/gen_monitoring.py           # rewrite the assets
    python scripts/gen_monitoring.py --check   # exit 1 when a committed asset differs

The assets are committed so users can deploy them without Python; a test asserts they equal
this script's output, so they can only change by changing the definition.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
for _p in (ROOT, ROOT / "src"):
    if str(_p) not in sys.path:
        sys.path.insert(0, str(_p))

from monitoring.definition import ALERTS, PANELS, Alert, Panel  # noqa: E402

WORKBOOK = "monitoring/azure/workbook.json"
ARM = "monitoring/azure/azuredeploy.json"
GRAFANA = "monitoring/grafana/llmops-dashboard.json"
PROMETHEUS = "monitoring/prometheus/llmops-alerts.yml"

_WB_VIZ = {"timeseries": "timechart", "bar": "barchart", "table": "table"}
_GF_VIZ = {"timeseries": "timeseries", "bar": "barchart", "table": "table"}
_PROM_SEVERITY = {0: "critical", 1: "critical", 2: "warning", 3: "info", 4: "info"}


def _kql_for_panel(p: Panel) -> str:
    # The workbook picks the chart type itself; "render" is for the Logs blade only.
    return p.kql.split(" | render ")[0]


def workbook() -> dict[str, Any]:
    items: list[dict[str, Any]] = [{
        "type": 1, "name": "intro",
        "content": {"json": "## llmops-kit — governed agent runs\nGenerated from monitoring/definition.py; "
                            "do not edit by hand."},
    }]
    for p in PANELS:
        items.append({
            "type": 3, "name": p.key,
            "content": {
                "version": "KqlItem/1.0", "title": p.title, "query": _kql_for_panel(p), "size": 0,
                "timeContext": {"durationMs": 86400000}, "queryType": 0,
                "resourceType": "microsoft.insights/components", "visualization": _WB_VIZ[p.viz],
            },
            "customWidth": "50",
        })
    return {
        "version": "Notebook/1.0", "items": items, "isLocked": False, "fallbackResourceIds": [],
        "$schema": "https://github.com/Microsoft/Application-Insights-Workbooks/blob/master/schema/workbook.json",
    }


def _alert_resource(a: Alert) -> dict[str, Any]:
    return {
        "type": "Microsoft.Insights/scheduledQueryRules", "apiVersion": "2023-03-15-preview",
        "name": f"[concat(parameters('namePrefix'), '-{a.key.replace('_', '-')}')]",
        "location": "[parameters('location')]",
        "properties": {
            "displayName": a.title, "description": a.description, "severity": a.severity, "enabled": True,
            "evaluationFrequency": f"PT{a.frequency_minutes}M", "windowSize": f"PT{a.window_minutes}M",
            "scopes": ["[parameters('appInsightsId')]"], "autoMitigate": True,
            "criteria": {"allOf": [{
                "query": a.kql, "timeAggregation": "Count", "operator": "GreaterThan", "threshold": 0,
                "failingPeriods": {"numberOfEvaluationPeriods": 1, "minFailingPeriodsToAlert": 1},
            }]},
            "actions": {"actionGroups": "[if(empty(parameters('actionGroupId')), createArray(), "
                                        "createArray(parameters('actionGroupId')))]"},
        },
    }


def arm_template() -> dict[str, Any]:
    return {
        "$schema": "https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#",
        "contentVersion": "1.0.0.0",
        "parameters": {
            "appInsightsId": {"type": "string",
                              "metadata": {"description": "Resource id of the App Insights component"}},
            "location": {"type": "string", "defaultValue": "[resourceGroup().location]"},
            "namePrefix": {"type": "string", "defaultValue": "llmops"},
            "actionGroupId": {"type": "string", "defaultValue": "",
                              "metadata": {"description": "Action group to notify (empty: no notification)"}},
            "workbookId": {"type": "string", "defaultValue": "[newGuid()]"},
        },
        "resources": [
            {
                "type": "Microsoft.Insights/workbooks", "apiVersion": "2022-04-01",
                "name": "[parameters('workbookId')]", "location": "[parameters('location')]",
                "kind": "shared",
                "properties": {
                    "displayName": "llmops-kit — governed agent runs", "category": "workbook",
                    "sourceId": "[parameters('appInsightsId')]",
                    "serializedData": json.dumps(workbook(), separators=(",", ":")),
                },
            },
            *[_alert_resource(a) for a in ALERTS],
        ],
    }


def grafana_dashboard() -> dict[str, Any]:
    panels = []
    for i, p in enumerate(PANELS):
        panels.append({
            "id": i + 1, "type": _GF_VIZ[p.viz], "title": p.oss_title or p.title,
            "gridPos": {"h": 8, "w": 12, "x": (i % 2) * 12, "y": (i // 2) * 8},
            "datasource": {"type": "prometheus", "uid": "${datasource}"},
            "fieldConfig": {"defaults": {"unit": p.unit or "short"}, "overrides": []},
            "targets": [{"refId": "A", "expr": p.promql,
                         "datasource": {"type": "prometheus", "uid": "${datasource}"},
                         **({"format": "table", "instant": True} if p.viz == "table" else {})}],
        })
    return {
        "title": "llmops-kit — governed agent runs", "uid": "llmops-kit", "schemaVersion": 39, "version": 1,
        "tags": ["llmops-kit", "genai"], "time": {"from": "now-24h", "to": "now"}, "refresh": "1m",
        "templating": {"list": [{"name": "datasource", "type": "datasource", "query": "prometheus",
                                 "label": "Prometheus"}]},
        "panels": panels,
    }


def prometheus_rules() -> str:
    import yaml

    rules = [{
        "alert": "LLMOps" + "".join(w.capitalize() for w in a.key.split("_")),
        "expr": a.promql, "for": "0m" if a.key == "circuit_breaker_open" else "5m",
        "labels": {"severity": _PROM_SEVERITY[a.severity], "team": "llmops"},
        "annotations": {"summary": a.title, "description": a.description},
    } for a in ALERTS]
    doc = {"groups": [{"name": "llmops-kit", "interval": "1m", "rules": rules}]}
    header = "# Generated by scripts/gen_monitoring.py from monitoring/definition.py — do not edit.\n"
    return header + yaml.safe_dump(doc, sort_keys=False, width=200, allow_unicode=True)


def render() -> dict[str, str]:
    """Relative path -> file content, exactly as committed."""
    def js(obj: Any) -> str:
        return json.dumps(obj, indent=2, ensure_ascii=False) + "\n"

    return {WORKBOOK: js(workbook()), ARM: js(arm_template()), GRAFANA: js(grafana_dashboard()),
            PROMETHEUS: prometheus_rules()}


def main(argv: list[str]) -> int:
    check = "--check" in argv
    stale = []
    for rel, content in render().items():
        path = ROOT / rel
        if check:
            if not path.exists() or path.read_text(encoding="utf-8") != content:
                stale.append(rel)
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content, encoding="utf-8")
        print(f"wrote {rel}")
    if stale:
        print("stale monitoring assets (run python scripts/gen_monitoring.py): " + ", ".join(stale))
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
