"""Test-wide guards: no network beyond loopback, no Azure settings leaking in from the host."""

from __future__ import annotations

import os

from tests.fixtures import netguard

_AZURE_ENV = (
    "APPLICATIONINSIGHTS_CONNECTION_STRING", "OTEL_EXPORTER_OTLP_ENDPOINT", "CONTENT_SAFETY_ENDPOINT",
    "CONTENT_SAFETY_KEY", "AUDIT_STORAGE_CONNECTION_STRING", "AUDIT_STORAGE_ACCOUNT_URL", "REDIS_URL",
    "AZURE_OPENAI_ENDPOINT", "AZURE_OPENAI_API_KEY", "LLMOPS_TELEMETRY", "ENABLE_SENSITIVE_DATA",
)
_HERMETIC_ENV = {
    "APPLICATIONINSIGHTS_STATSBEAT_DISABLED_ALL": "true",
    "APPLICATIONINSIGHTS_SDKSTATS_DISABLED": "true",
    "APPLICATIONINSIGHTS_CONTROLPLANE_DISABLED": "true",
    "OTEL_EXPERIMENTAL_RESOURCE_DETECTORS": "otel",
    "HF_HUB_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "TLDEXTRACT_PUBLIC_SUFFIX_LIST_URLS": "",
}

# Unless the developer opts in to real-Azure tests, the host's Azure settings are not ours to use.
if not os.environ.get("LLMOPS_TEST_REAL_AZURE"):
    for _name in _AZURE_ENV:
        os.environ.pop(_name, None)
for _name, _value in _HERMETIC_ENV.items():
    os.environ.setdefault(_name, _value)

netguard.install()  # tests may only reach loopback

