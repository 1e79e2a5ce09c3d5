"""Ingestion failing (500, 429, down, stuck) never slows or fails a governed run; nothing is lost.

In-process with the real exporters on local providers (exporting.py): export happens on
the batch processors' threads, so the assertions are structural (the run finished while
the server had not answered anything; the envelopes arrive after recovery), never timed.
Numbers live in tests/benchmarks/bench_appinsights.py and docs/appinsights.md.
"""

from __future__ import annotations

import time

import pytest
from tests.azure_monitor.exporting import build_exporting
from tests.fixtures.appinsights_capture import CaptureServer, base_data, base_type, for_run


def _dependency_names(envelopes: list[dict], run_id: str) -> list[str]:
    deps = [e for e in for_run(envelopes, run_id) if base_type(e) == "RemoteDependencyData"]
    return sorted(base_data(e)["name"] for e in deps)


EXPECTED = ["chat gpt-4o-mini", "chat gpt-4o-mini", "execute_tool lookup_policy", "invoke_agent support"]


async def test_stuck_ingestion_does_not_hold_the_run(appinsights_capture: CaptureServer, tmp_path) -> None:
    ex = build_exporting(appinsights_capture.connection_string, tmp_path, schedule_delay_ms=20)
    appinsights_capture.hold()  # requests are read, never answered until release()
    try:
        first = await ex.run()
        assert first.status == "ok"
        assert appinsights_capture.answered == 0, "the run finished before ingestion answered anything"
        # the exporter thread is now blocked inside a POST; a second run must not notice
        assert appinsights_capture.wait_for(lambda _: appinsights_capture.received >= 1, timeout=10)
        second = await ex.run()
        assert second.status == "ok"
        assert appinsights_capture.answered == 0
    finally:
        appinsights_capture.release()
    ex.flush()
    for result in (first, second):
        run_id = result.run_id
        assert appinsights_capture.wait_for(lambda env, r=run_id: _dependency_names(env, r) == EXPECTED)
    await ex.close()


@pytest.mark.parametrize("failure", ["500", "429", "down"])
async def test_failed_export_is_stored_and_delivered_after_recovery(
    appinsights_capture: CaptureServer, tmp_path, failure: str
) -> None:
    ex = build_exporting(appinsights_capture.connection_string, tmp_path)
    if failure == "down":
        appinsights_capture.go_down()
    else:
        appinsights_capture.set_mode(int(failure), retry_after_s=1)

    failed = await ex.run()
    assert failed.status == "ok", "an ingestion outage must not fail the run"
    ex.flush()  # export (and its retries) happen here, on the processors' threads
    assert ex.stored_blobs(), "undeliverable telemetry must be kept in offline storage"
    assert _dependency_names(appinsights_capture.envelopes(), failed.run_id) == []
    if failure != "down":
        # every attempt (1 + azure-core's 3 retries) carried the whole run
        rejected = _dependency_names(appinsights_capture.rejected(), failed.run_id)
        assert sorted(set(rejected)) == sorted(set(EXPECTED))

    if failure == "down":
        appinsights_capture.come_back()
    else:
        appinsights_capture.set_mode(200)
    time.sleep(1.2)  # the stored batch is leased for Retry-After / storage_min_retry_interval = 1 s
    recovered = await ex.run()  # a successful export drains the storage
    ex.flush()
    assert appinsights_capture.wait_for(lambda env: _dependency_names(env, failed.run_id) == EXPECTED), \
        "the run exported during the outage must arrive after recovery"
    assert _dependency_names(appinsights_capture.envelopes(), recovered.run_id) == EXPECTED
    delivered = for_run(appinsights_capture.envelopes(), failed.run_id)
    events = [e for e in delivered if base_type(e) == "EventData"]
    assert [base_data(e)["name"] for e in events] == ["gen_ai.evaluation.result"]
    await ex.close()
