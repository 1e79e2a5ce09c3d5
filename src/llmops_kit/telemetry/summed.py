"""Counters summed in process and reported through an OTel ``ObservableCounter``.

A synchronous SDK ``Counter.add`` costs about 6 µs (a measurement object, attribute hashing,
a lock and view matching on every call), and a governed run adds to several counters: run
status, guardrail decisions, cost. Summing into a dict keyed by the attribute set costs a
fraction of a microsecond, and the SDK reads the totals only when a reader collects (every
export interval). The exported data is the same: a monotonic Sum per attribute set, in
whatever temporality the reader asks for (the SDK turns cumulative observations into deltas).
What is lost are exemplars, which asynchronous instruments never carry.

One difference needs care: a synchronous counter exports nothing for a series that did not
move in a delta interval, while a callback that reports every total makes the SDK export a
zero delta for every series ever seen, every interval (App Insights bills those rows). So when
the provider's only reader takes deltas (the Azure Monitor exporter does), the callback
reports just the series that moved since the last collection; the SDK keeps each series'
previous total, so the next delta is still exact. With several readers, or any cumulative
one, every total is reported (cumulative readers need every series on every collection, and
a shared "moved since" mark would hide increments from the second reader).
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Iterable, Mapping
from typing import Any

from opentelemetry import metrics
from opentelemetry.metrics import CallbackOptions, Observation
from opentelemetry.sdk.metrics.export import AggregationTemporality

#: Same default as the SDK's cardinality limit: beyond it one overflow series takes the rest.
DEFAULT_MAX_SERIES = 2000
_OVERFLOW_KEY: tuple[tuple[str, Any], ...] = (("otel.metric.overflow", True),)

AttributeKey = tuple[tuple[str, Any], ...]


class SummedCounter:
    """A monotonic counter with the ``add(amount, attributes)`` shape of an OTel ``Counter``."""

    def __init__(self, meter: metrics.Meter, name: str, *, unit: str = "", description: str = "",
                 max_series: int = DEFAULT_MAX_SERIES, changes_only: bool = False) -> None:
        self.name = name
        self._totals: dict[AttributeKey, float] = {}
        self._moved: set[AttributeKey] = set()
        self._changes_only = changes_only
        self._lock = threading.Lock()
        self._max_series = max_series
        meter.create_observable_counter(name, callbacks=[self._observe], unit=unit, description=description)

    def add(self, amount: float, attributes: Mapping[str, Any] | None = None) -> None:
        """Add ``amount`` (must be >= 0, as for any counter) to the series of ``attributes``."""
        self.add_key(amount, self.key_of(attributes))

    @staticmethod
    def key_of(attributes: Mapping[str, Any] | None) -> AttributeKey:
        """The series key of an attribute set; callers that add to one series often keep it."""
        key: AttributeKey = tuple(sorted(attributes.items())) if attributes else ()
        try:
            hash(key)
        except TypeError:  # a list-valued attribute (valid in OTel): keyed as a tuple, same values
            key = tuple((k, tuple(v) if isinstance(v, list) else v) for k, v in key)
        return key

    def add_key(self, amount: float, key: AttributeKey) -> None:
        """:meth:`add` for a key from :meth:`key_of` (no sorting or hashing check per call)."""
        if amount < 0:
            return  # a monotonic counter ignores negative increments, as the SDK does
        with self._lock:
            totals = self._totals
            if key not in totals and len(totals) >= self._max_series:
                key = _OVERFLOW_KEY
            totals[key] = totals.get(key, 0) + amount
            self._moved.add(key)

    def _observe(self, _options: CallbackOptions) -> Iterable[Observation]:
        with self._lock:
            if self._changes_only:
                items = [(key, self._totals[key]) for key in self._moved]
            else:
                items = list(self._totals.items())
            self._moved = set()
        return [Observation(total, dict(key)) for key, total in items]


_SHARED: weakref.WeakKeyDictionary[Any, dict[str, SummedCounter]] = weakref.WeakKeyDictionary()
_SHARED_LOCK = threading.Lock()


def summed_counter(meter_provider: Any, meter: metrics.Meter, name: str, *, unit: str = "",
                   description: str = "") -> SummedCounter:
    """The provider's one ``SummedCounter`` called ``name``, created on first use.

    Two runtimes on one meter provider (an app with two agents) must add to the same series:
    the SDK merges two synchronous counters of one name into one stream, but a second
    observable counter of the same name is a duplicate whose points collide with the first's.
    The registry is keyed weakly by provider, so a provider that is dropped takes it along.
    """
    def create() -> SummedCounter:
        return SummedCounter(meter, name, unit=unit, description=description,
                             changes_only=single_delta_reader(meter_provider))

    try:
        with _SHARED_LOCK:
            counters = _SHARED.setdefault(meter_provider, {})
            counter = counters.get(name)
            if counter is None:
                counter = counters[name] = create()
            return counter
    except TypeError:  # a provider that cannot be weakly referenced: nothing to share with
        return create()


def single_delta_reader(meter_provider: Any) -> bool:
    """Whether ``meter_provider`` is an SDK provider whose only reader exports observable
    counters as deltas - the case where reporting only moved series is exact (module docstring).

    Reads the SDK's reader configuration; anything unexpected answers ``False`` (report every
    total), which is always correct, only chattier for delta exporters.
    """
    readers = getattr(meter_provider, "_metric_readers", None)
    if not isinstance(readers, list | tuple) or len(readers) != 1:
        return False
    table = getattr(readers[0], "_instrument_class_temporality", None)
    if not isinstance(table, dict):
        return False
    for instrument_class, temporality in table.items():
        if getattr(instrument_class, "__name__", "") == "_ObservableCounter":
            return temporality is AggregationTemporality.DELTA
    return False
