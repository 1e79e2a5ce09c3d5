"""Blob audit with Entra ID: a bearer token reaches Azurite (HTTPS, ``--oauth basic``)."""

from __future__ import annotations

import uuid
from pathlib import Path

from tests.fixtures.azurite import Azurite

STORAGE_SCOPE = "https://storage.azure.com/.default"


def test_blob_sink_writes_and_verifies_with_a_token_credential_and_keeps_records_a_bad_token_refused(
        azurite_oauth: Azurite, run_keyless, tmp_path: Path) -> None:
    container = f"keyless-{uuid.uuid4().hex[:10]}"
    out = run_keyless("blob_sink", azurite_oauth.account_url, container, str(tmp_path / "spool"))

    # a token Azurite rejects (wrong audience): nothing uploaded, all three records kept
    assert out["rejected_drained"] is False
    assert out["rejected_storage_ok"] is False
    assert (out["rejected_last_error"] or "").startswith("ClientAuthenticationError"), out["rejected_last_error"]
    assert out["rejected_uploaded"] == 0
    assert out["rejected_spool_depth"] == 3
    assert [STORAGE_SCOPE] in out["rejected_scopes"]

    # the valid token: the spooled three (uploaded by the restarted sink) and two new records
    # land, in one verified chain
    assert out["drained"] is True and out["storage_ok"] is True
    assert out["spool_depth"] == 0 and out["uploaded"] == 5
    assert out["scopes"] and all(s == [STORAGE_SCOPE] for s in out["scopes"])
    reports = out["reports"]
    assert len(reports) == 1, reports
    assert reports[0]["error"] is None
    assert (reports[0]["records"], reports[0]["first_seq"], reports[0]["last_seq"]) == (5, 1, 5)
    assert reports[0]["chain_id"].startswith("contoso@")
    assert out["blocked_network"] == []
