"""Keyless Content Safety in one process: the guard with a TokenCredential, then a wrong token.

Run in a fresh interpreter with ``SSL_CERT_FILE`` naming the test CA (aiohttp fixes its TLS
trust at import). argv: ENDPOINT GOOD_TOKEN. Prints one JSON line.
"""

from __future__ import annotations

import asyncio
import json
import sys

import _netguard  # loopback only, before any client exists
from _credentials import StaticAsyncCredential

from llmops_kit.safety.azure import AzureContentSafetyGuard


async def main(endpoint: str, token: str) -> dict[str, object]:
    out: dict[str, object] = {}
    cred = StaticAsyncCredential(token)
    guard = AzureContentSafetyGuard(endpoint, credential=cred, max_retries=0, timeout_seconds=5.0)
    out["auth"] = guard.auth
    out["clean"] = (await guard.check_input("What is your refund policy?")).to_dict()
    out["violent"] = (await guard.check_output("VIOLENCE!! in the answer")).to_dict()
    await guard.aclose()
    out["scopes"] = cred.scopes

    wrong = StaticAsyncCredential(token + "-wrong")
    guard = AzureContentSafetyGuard(endpoint, credential=wrong, max_retries=0, timeout_seconds=5.0)
    out["wrong_token"] = (await guard.check_input("What is your refund policy?")).to_dict()
    await guard.aclose()
    out["blocked_network"] = list(_netguard.BLOCKED)
    return out


if __name__ == "__main__":
    print(json.dumps(asyncio.run(main(*sys.argv[1:3]))), flush=True)
