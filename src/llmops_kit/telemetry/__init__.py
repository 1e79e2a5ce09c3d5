"""Telemetry: provider setup, instruments, local JSONL exporters, GenAI semantic-convention names."""

from llmops_kit.telemetry.instruments import Telemetry
from llmops_kit.telemetry.setup import TelemetryProviders, configure_telemetry

__all__ = ["Telemetry", "TelemetryProviders", "configure_telemetry"]
