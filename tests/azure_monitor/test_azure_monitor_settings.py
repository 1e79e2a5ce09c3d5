"""Settings -> configure_azure_monitor arguments, and the refusal of a second global setup."""

from __future__ import annotations

import pytest
from opentelemetry.sdk.resources import Resource

from llmops_kit.config import Settings
from llmops_kit.telemetry.azure import (
    CustomEventLogRecordProcessor,
    GenAISystemSpanProcessor,
    azure_monitor_kwargs,
    ingestion_endpoint,
)
from llmops_kit.telemetry.setup import resolve_mode

CONN = "InstrumentationKey=00000000-0000-0000-0000-000000000000;IngestionEndpoint=http://127.0.0.1:9/"


def test_settings_map_to_distro_arguments(tmp_path) -> None:
    credential = object()
    settings = Settings.load(None, data_dir=tmp_path, applicationinsights_connection_string=CONN,
                             telemetry_sampling_ratio=0.25, telemetry_enable_live_metrics=True,
                             telemetry_storage_directory=tmp_path / "spool", telemetry_read_timeout_seconds=3)
    assert resolve_mode(settings) == "azure"
    resource = Resource.create({"service.name": "svc"})
    kw = azure_monitor_kwargs(settings, resource, credential)
    assert kw["connection_string"] == CONN
    assert (kw["sampling_ratio"], kw["enable_live_metrics"], kw["read_timeout"]) == (0.25, True, 3)
    assert kw["storage_directory"] == str(tmp_path / "spool")
    assert kw["credential"] is credential and kw["resource"] is resource
    assert kw["logger_name"] == "llmops_kit"
    assert [type(p) for p in kw["span_processors"]] == [GenAISystemSpanProcessor]
    assert [type(p) for p in kw["log_record_processors"]] == [CustomEventLogRecordProcessor]


def test_no_credential_and_no_storage_directory_are_left_to_the_distro(tmp_path) -> None:
    settings = Settings.load(None, data_dir=tmp_path, applicationinsights_connection_string=CONN)
    kw = azure_monitor_kwargs(settings, Resource.create({}))
    assert "credential" not in kw and "storage_directory" not in kw


@pytest.mark.parametrize(("conn", "endpoint"), [
    (CONN, "http://127.0.0.1:9/"),
    ("InstrumentationKey=00000000-0000-0000-0000-000000000000", "https://dc.services.visualstudio.com/"),
])
def test_ingestion_endpoint_never_shows_the_key(conn: str, endpoint: str) -> None:
    assert ingestion_endpoint(conn) == endpoint


def test_second_global_configuration_is_refused(appinsights_capture, distro_env, run_scenario) -> None:
    out = run_scenario("configure_twice", env=distro_env)
    assert out["first"] == "azure"
    assert "already installed" in out["second_error"]
