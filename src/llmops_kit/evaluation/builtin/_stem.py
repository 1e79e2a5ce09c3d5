"""A small suffix stemmer and synonym table for topic matching.

Topic coverage must accept "refunds"/"refunded"/"refunding" for the topic "refund" and
"money back" for "refund" without a language model. This is a deliberately light
suffix-stripper (a handful of English inflection rules), not Porter: over-stemming would
make unrelated words collide, and the checks only need inflection tolerance.
"""

from __future__ import annotations

from collections.abc import Mapping

_SUFFIXES = (
    ("ational", "ate"),
    ("ization", "ize"),
    ("fulness", "ful"),
    ("iveness", "ive"),
    ("ments", ""),
    ("ment", ""),
    ("ies", "y"),
    ("ied", "y"),
    ("ing", ""),
    ("ed", ""),
    ("ers", ""),
    ("er", ""),
    ("ly", ""),
    ("es", ""),
    ("s", ""),
)


#: Every suffix at once: one C-level ``endswith`` lets most words skip the rule loop.
_ANY_SUFFIX = tuple(suffix for suffix, _ in _SUFFIXES)


def stem(word: str) -> str:
    """Strip one common English inflection, then a final ``e`` (so "invoice"/"invoices" meet)."""
    w = word.lower()
    if len(w) <= 3 or w.endswith("ss"):
        return w
    if w.endswith(_ANY_SUFFIX):
        for suffix, repl in _SUFFIXES:
            if w.endswith(suffix) and len(w) - len(suffix) >= 3:
                w = w[: len(w) - len(suffix)] + repl
                if suffix in ("ing", "ed", "er", "ers") and w[-1] == w[-2] and w[-1] not in "lsz":
                    w = w[:-1]  # "shipped" → "shipp" → "ship"
                break
    return w[:-1] if len(w) > 4 and w.endswith("e") else w


#: Support-desk vocabulary: topic → phrases that count as covering it. Users extend it.
DEFAULT_SYNONYMS: Mapping[str, tuple[str, ...]] = {
    "refund": ("reimburse", "reimbursement", "money back", "credit back", "chargeback", "repay"),
    "return": ("send back", "send it back", "rma", "exchange"),
    "cancel": ("cancellation", "terminate", "stop the order", "void"),
    "shipping": ("delivery", "deliver", "dispatch", "courier", "shipment", "ship", "tracking"),
    "delivery": ("shipping", "shipment", "dispatch", "courier", "arrive"),
    "price": ("cost", "fee", "charge", "pricing", "amount"),
    "cost": ("price", "fee", "charge", "amount"),
    "password": ("passcode", "credentials", "sign-in", "login"),
    "login": ("log in", "sign in", "sign-in", "signin"),
    "account": ("profile", "subscription"),
    "contact": ("reach", "call", "email", "phone", "get in touch"),
    "support": ("help desk", "helpdesk", "customer service", "agent", "assistance"),
    "order number": ("order id", "order #", "order reference", "confirmation number"),
    "damaged": ("broken", "defective", "faulty", "damage"),
    "warranty": ("guarantee", "coverage"),
    "invoice": ("receipt", "bill", "billing statement"),
    "timeline": ("business days", "within", "days", "weeks", "hours"),
}
