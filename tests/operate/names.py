"""What names the assets reference, and which names the code really emits."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from monitoring.definition import Metric, prom_label, prom_name
from opentelemetry.sdk.metrics.export import Histogram, Sum
from tests.operate.governed import Recorded

from llmops_kit.telemetry import semconv as sc

SEMCONV_VALUES = frozenset(v for k, v in vars(sc).items() if k.isupper() and isinstance(v, str))


@dataclass
class Names:
    metrics: set[str] = field(default_factory=set)
    attributes: set[str] = field(default_factory=set)
    events: set[str] = field(default_factory=set)
    operations: set[str] = field(default_factory=set)
    prom_metrics: set[str] = field(default_factory=set)
    prom_labels: set[str] = field(default_factory=set)


def emitted(rec: Recorded) -> Names:
    """Names observed in the workload, kept only when semconv defines them too."""
    n = Names()
    for s in rec.spans.get_finished_spans():
        n.operations.add(s.name.split(" ", 1)[0])
        n.attributes |= set(s.attributes or {})
        for e in s.events:
            n.events.add(e.name)
            n.attributes |= set(e.attributes or {})
    for item in rec.logs.get_finished_logs():
        if item.log_record.event_name:
            n.events.add(item.log_record.event_name)
        n.attributes |= set(item.log_record.attributes or {})
    data = rec.metrics.get_metrics_data()
    for rm in data.resource_metrics if data else []:
        for sm in rm.scope_metrics:
            for m in sm.metrics:
                kind = "histogram" if isinstance(m.data, Histogram) else (
                    "counter" if isinstance(m.data, Sum) and m.data.is_monotonic else "gauge")
                n.metrics.add(m.name)
                base = prom_name(Metric(m.name, m.unit or "", kind))
                suffixes = ("_bucket", "_sum", "_count") if kind == "histogram" else ("",)
                n.prom_metrics |= {base + s for s in suffixes}
                for p in m.data.data_points:
                    n.attributes |= set(p.attributes or {})
                    n.prom_labels |= {prom_label(a) for a in p.attributes or {}}
    n.prom_labels.add("le")
    for attr in ("metrics", "attributes", "events", "operations"):
        setattr(n, attr, getattr(n, attr) & SEMCONV_VALUES)
    return n


_KQL_METRIC = re.compile(r'customMetrics \| where name == "([^"]+)"')
_KQL_EVENT = re.compile(r'customEvents \| where name == "([^"]+)"')
_KQL_SPAN = re.compile(r'dependencies \| where name startswith "([^" ]+) ?"')
_KQL_DIM = re.compile(r'customDimensions\["([^"]+)"\]')


def kql_names(query: str) -> Names:
    n = Names(metrics=set(_KQL_METRIC.findall(query)), events=set(_KQL_EVENT.findall(query)),
              operations=set(_KQL_SPAN.findall(query)), attributes=set(_KQL_DIM.findall(query)))
    found = sum(len(r.findall(query)) for r in (_KQL_METRIC, _KQL_EVENT, _KQL_SPAN))
    if found != len(re.findall(r"\bname\s*(?:==|=~|!=|startswith|in\b|has|contains)", query)):
        raise AssertionError(f"a name reference this parser does not understand: {query}")
    run_spans = len(re.findall(r'dependencies \| where isnotempty\(customDimensions\["', query))
    if found == 0 and run_spans == 0:
        raise AssertionError(f"a query that references no table this check knows: {query}")
    return n


_PROM_KEYWORDS = {"and", "or", "unless", "by", "without", "offset", "on", "ignoring", "group_left",
                  "group_right", "bool", "le", "inf", "nan"}


def promql_names(expr: str) -> Names:
    n = Names()
    for body in re.findall(r"\{([^}]*)\}", expr):
        n.prom_labels |= set(re.findall(r"([A-Za-z_][A-Za-z0-9_]*)\s*(?:=~|!~|!=|=)", body))
    for group in re.findall(r"\b(?:by|without)\s*\(([^)]*)\)", expr):
        n.prom_labels |= {g.strip() for g in group.split(",") if g.strip()}
    rest = re.sub(r"\{[^}]*\}|\b(?:by|without)\s*\([^)]*\)|\[[^\]]*\]|\"[^\"]*\"", " ", expr)
    for ident in re.findall(r"\b([A-Za-z_:][A-Za-z0-9_:]*)\b(?!\s*\()", rest):
        if ident.lower() not in _PROM_KEYWORDS and not re.fullmatch(r"\d+[smhdwy]?", ident):
            n.prom_metrics.add(ident)
    if not n.prom_metrics:
        raise AssertionError(f"a PromQL expression with no metric: {expr}")
    return n
