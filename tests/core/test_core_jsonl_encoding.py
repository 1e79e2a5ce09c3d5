"""The JSONL exporters' line encoding: orjson where it is exact, the standard library where it is not.

Every line must read back (``read_jsonl``, i.e. Python's ``json``) to what the standard library
encoder wrote before orjson was used: the report and any user tooling read these files.
"""

from __future__ import annotations

import enum
import json
import math
import random

from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import SimpleLogRecordProcessor
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor

from llmops_kit.telemetry.jsonl import (
    LOGS_FILE,
    SPANS_FILE,
    JsonlLogExporter,
    JsonlSpanExporter,
    _finite,
    encode_line,
    read_jsonl,
)


class Attr(str, enum.Enum):  # how MAF names its span attributes (``OtelAttr``)
    OPERATION = "gen_ai.operation.name"

    def __str__(self) -> str:
        return self.value


class Real(float):  # a float subclass (NumPy's float64 is one) passes OTel's attribute checks
    pass


def _stdlib_line(row: dict) -> bytes:
    """What the exporters wrote before: the reference the orjson lines must read back equal to."""
    return (json.dumps(row, ensure_ascii=True, separators=(",", ":"), default=str) + "\n").encode("ascii")


def _same(a: object, b: object) -> bool:
    """Equality that counts NaN as equal to NaN (both encoders' NaN must read back as NaN)."""
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    return type(a) is type(b) and a == b


def _random_value(rng: random.Random) -> object:
    kind = rng.randrange(9)
    if kind == 0:
        return rng.choice(["", "plain", "naïve café", "日本語", "emoji 🙂", "quote \" back\\slash", "\ud800 lone"])
    if kind == 1:
        return rng.randint(-(2**63), 2**63 - 1)
    if kind == 2:
        return rng.choice([0.0, -1.5, 1e300, 3.14159, float("nan"), float("inf"), float("-inf")])
    if kind == 3:
        return rng.random() < 0.5
    if kind == 4:
        return [rng.random() * 100 for _ in range(rng.randrange(4))] + rng.choice([[], [float("nan")]])
    if kind == 5:
        return tuple(rng.choice(["a", "b", "ü"]) for _ in range(rng.randrange(4)))
    if kind == 6:
        return 2**70  # beyond 64 bits: orjson refuses it
    if kind == 7:
        return None
    return Attr.OPERATION


def test_random_rows_read_back_as_the_stdlib_encoder_wrote_them() -> None:
    rng = random.Random(7)
    for _ in range(3000):
        keys = ["a", "b.c", "ü", Attr.OPERATION]
        attributes = {rng.choice(keys): _random_value(rng) for _ in range(rng.randrange(6))}
        row = {"name": "span", "attributes": attributes, "duration_ms": rng.random()}
        line = encode_line(row, _finite(attributes))
        assert line.endswith(b"\n") and line.count(b"\n") == 1
        assert _same(json.loads(line), json.loads(_stdlib_line(row))), row


def test_exporters_keep_nan_lone_surrogates_enum_keys_and_unicode(tmp_path) -> None:
    spans_out, logs_out = JsonlSpanExporter(tmp_path), JsonlLogExporter(tmp_path)
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(SimpleSpanProcessor(spans_out))
    tracer = tracer_provider.get_tracer("test")
    with tracer.start_as_current_span("ok") as span:
        span.set_attribute("text", "naïve 日本")
        span.set_attribute(Attr.OPERATION, "chat")
        span.add_event("scored", {"score": 0.5})
    with tracer.start_as_current_span("odd") as span:
        span.set_attribute("nan", float("nan"))
        span.set_attribute("scores", [1.0, float("inf")])
        span.set_attribute("broken", "\udc80")
    with tracer.start_as_current_span("odd event") as span:
        span.add_event("scored", {"score": float("nan")})
    logger_provider = LoggerProvider()
    logger_provider.add_log_record_processor(SimpleLogRecordProcessor(logs_out))
    logger = logger_provider.get_logger("test")
    logger.emit(event_name="plain", attributes={"score": 0.25}, body={"k": [1, "ü"]})
    logger.emit(event_name="odd", attributes={"score": float("-inf")}, body={1: {"x": float("nan")}})
    logger.emit(event_name="nested", attributes={"parts": {"a": float("nan"), "b": [1.0, float("inf")]}})
    logger.emit(event_name="subclass", attributes={"sub": Real("nan")})
    with tracer.start_as_current_span("subclass") as span:
        span.set_attribute("score", Real("inf"))

    spans = {s["name"]: s for s in read_jsonl(tmp_path / SPANS_FILE)}
    assert spans["ok"]["attributes"] == {"text": "naïve 日本", "gen_ai.operation.name": "chat"}
    assert spans["ok"]["events"][0]["attributes"] == {"score": 0.5}
    odd = spans["odd"]["attributes"]
    assert math.isnan(odd["nan"]) and odd["scores"] == [1.0, math.inf] and odd["broken"] == "\udc80"
    assert math.isnan(spans["odd event"]["events"][0]["attributes"]["score"])
    logs = {r["event_name"]: r for r in read_jsonl(tmp_path / LOGS_FILE)}
    assert logs["plain"]["attributes"] == {"score": 0.25} and logs["plain"]["body"] == {"k": [1, "ü"]}
    assert logs["odd"]["attributes"]["score"] == -math.inf and math.isnan(logs["odd"]["body"]["1"]["x"])
    nested = logs["nested"]["attributes"]
    assert math.isnan(nested["parts"]["a"]) and nested["parts"]["b"] == [1.0, math.inf]
    assert math.isnan(logs["subclass"]["attributes"]["sub"])
    assert spans["subclass"]["attributes"]["score"] == math.inf


def test_a_key_neither_encoder_takes_is_written_as_text() -> None:
    """A log body or attribute map keyed by a tuple: orjson and ``json`` both refuse it; the line is
    still written (keys as text), never an exception in the SDK's export thread."""
    line = encode_line({"body": {(1, 2): float("nan"), 3: "x"}}, exact=False)
    assert json.loads(line)["body"]["(1, 2)"] != json.loads(line)["body"]["(1, 2)"]  # NaN survives
    assert json.loads(encode_line({"body": {(1, 2): 1.5}}))["body"] == {"(1, 2)": 1.5}
