"""Content Safety with Entra ID: the guard's bearer token reaches the REST stub over HTTPS."""

from __future__ import annotations

from tests.fixtures.content_safety_stub import ContentSafetyStub
from tests.keyless.conftest import CS_TOKEN

COGNITIVE_SCOPE = "https://cognitiveservices.azure.com/.default"


def test_guard_authenticates_with_a_token_credential_and_a_wrong_token_fails_closed(
        content_safety_tls: ContentSafetyStub, run_keyless) -> None:
    assert content_safety_tls.endpoint.startswith("https://")
    out = run_keyless("content_safety", content_safety_tls.endpoint, CS_TOKEN)

    assert out["auth"] == "token"
    assert out["clean"]["status"] == "evaluated" and out["clean"]["allowed"] is True
    violent = out["violent"]
    assert violent["status"] == "evaluated" and violent["allowed"] is False
    assert {c["category"]: c["severity"] for c in violent["categories"]}["Violence"] == 7
    assert out["scopes"] and all(s == [COGNITIVE_SCOPE] for s in out["scopes"])

    # the stub saw the bearer token (never a subscription key) on every authorised call...
    auths = content_safety_tls.auth_headers
    good = [a for a in auths if a == f"Bearer {CS_TOKEN}"]
    assert len(good) >= 3  # analyze + shieldPrompt for the input, analyze for the output
    # ...and answered the wrong token with 401: the guard fails closed, it does not allow
    assert f"Bearer {CS_TOKEN}-wrong" in auths
    wrong = out["wrong_token"]
    assert wrong["status"] == "unavailable" and wrong["allowed"] is False
    assert out["blocked_network"] == []


def test_stub_in_bearer_mode_rejects_a_missing_token(content_safety_tls: ContentSafetyStub, tls_files) -> None:
    import http.client
    import ssl

    ctx = ssl.create_default_context(cafile=str(tls_files.cert))
    host, port = content_safety_tls.server_address[:2]
    conn = http.client.HTTPSConnection(host, port, context=ctx, timeout=5)
    try:
        conn.request("POST", "/contentsafety/text:analyze?api-version=2024-09-01", body=b'{"text": "hi"}',
                     headers={"Content-Type": "application/json", "Ocp-Apim-Subscription-Key": "test-key"})
        resp = conn.getresponse()
        assert resp.status == 401
        resp.read()
    finally:
        conn.close()
