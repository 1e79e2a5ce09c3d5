"""App Insights with Entra ID: the distro's exporter sends a bearer token to ingestion over HTTPS."""

from __future__ import annotations

from pathlib import Path

from tests.fixtures.appinsights_capture import CaptureServer, for_run

MONITOR_SCOPE = "https://monitor.azure.com//.default"  # sic: the exporter's scope has a double slash


def test_configure_telemetry_with_a_credential_exports_with_a_bearer_token(
        appinsights_tls: CaptureServer, run_keyless, tmp_path: Path) -> None:
    assert appinsights_tls.url.startswith("https://")
    out = run_keyless("governed_run", "--credential",
                      APPLICATIONINSIGHTS_CONNECTION_STRING=appinsights_tls.connection_string,
                      TELEMETRY_STORAGE_DIRECTORY=str(tmp_path / "ai-storage"),
                      TELEMETRY_READ_TIMEOUT_SECONDS="5")

    assert out["status"] == "ok", out
    assert out["blocked_network"] == []
    assert [MONITOR_SCOPE] in out["credential_scopes"]
    envelopes = appinsights_tls.envelopes()
    assert for_run(envelopes, out["run_id"]), "the governed run's envelopes did not arrive"
    auths = appinsights_tls.authorizations()
    assert auths and all(a == "Bearer scenario-token" for a in auths), set(auths)
    assert not appinsights_tls.rejected()
