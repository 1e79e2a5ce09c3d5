"""Test TokenCredentials: a token obtained out of band, with every requested scope recorded.

Why not azure-identity's credentials: they would call Entra ID (or IMDS) for a token; these
hand the SDK a fixed token, which is exactly what reaches the peer's ``Authorization``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from typing import Any

from azure.core.credentials import AccessToken

STORAGE_AUDIENCE = "https://storage.azure.com"
TEST_TENANT = "00000000-0000-0000-0000-0000000000aa"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def storage_jwt(audience: str = STORAGE_AUDIENCE, lifetime_s: int = 3600) -> str:
    """An HS256 JWT shaped like an Entra ID storage token (Azurite "basic" OAuth: iss, aud, nbf/exp)."""
    now = int(time.time())
    claims = {"aud": audience, "iss": f"https://sts.windows.net/{TEST_TENANT}/", "iat": now - 60,
              "nbf": now - 60, "exp": now + lifetime_s, "tid": TEST_TENANT, "oid": "keyless-test"}
    head = _b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    body = _b64(json.dumps(claims).encode())
    sig = _b64(hmac.new(b"not-a-real-key", f"{head}.{body}".encode(), hashlib.sha256).digest())
    return f"{head}.{body}.{sig}"


class StaticAsyncCredential:
    """An ``AsyncTokenCredential`` for the aio clients (blob sink, Content Safety guard)."""

    def __init__(self, token: str) -> None:
        self.token = token
        self.scopes: list[list[str]] = []

    async def get_token(self, *scopes: str, **kwargs: Any) -> AccessToken:
        self.scopes.append(list(scopes))
        return AccessToken(self.token, int(time.time()) + 3600)

    async def close(self) -> None:
        pass

    async def __aenter__(self) -> StaticAsyncCredential:
        return self

    async def __aexit__(self, *exc: object) -> None:
        pass
