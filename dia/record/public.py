"""Reports made safe to publish: what ``dia export --public`` and the public dashboard show.

A stored report keeps everything the operator needs to debug a run: the host name, the
process id, raw notes (which may quote an exception with a local path). None of it belongs
in a published export. :func:`public_report` returns a copy without them; the figures,
factors, lineage and workload are kept as they are.

>>> from dia.record.report import RunReport
>>> report = RunReport(model_id="org/m", host="gpu-07.internal", pid=4242,
...                    energy={"it_kwh": {"value": 1.0, "unit": "kWh", "quality": "measured"}},
...                    notes=["NVML unavailable: estimated from TDP",
...                           "fallback file /srv/dia/fallback.jsonl", "kept in ~/runs/x.jsonl"])
>>> shown = public_report(report)
>>> shown.host, shown.pid, shown.energy.it_kwh.value
(None, None, 1.0)
>>> shown.notes  # a path becomes its file name; one under the home directory is dropped
['NVML unavailable: estimated from TDP', 'fallback file fallback.jsonl']
"""

from __future__ import annotations

import re
from typing import Any

from dia.record.report import RunReport
from dia.redact import redact_text

# What redact_text leaves of a path (``~/runs/x``) or an absolute path it did not recognise.
_PATH_LEFT = re.compile(r"(?:^|[\s'\"(=:])(?:~[/\\]|/[^\s/]|[A-Za-z]:\\)")


def public_text(text: str) -> str | None:
    """``text`` redacted (no secret, no environment value), or ``None`` when it still names
    a local path, which would publish a folder layout.

    >>> public_text("password=S3cret in postgresql://u:S3cret@db/x") is None
    False
    >>> public_text("cannot write ~/runs/fallback.jsonl") is None
    True
    """
    cleaned = redact_text(text)
    return None if _PATH_LEFT.search(cleaned) else cleaned


def public_notes(notes: list[str]) -> list[str]:
    """The notes that are safe to publish, each redacted (see :func:`public_text`)."""
    out = []
    for note in notes:
        shown = public_text(note)
        if shown is not None:
            out.append(shown)
    return out


def public_report(report: RunReport) -> RunReport:
    """A copy of ``report`` that can be published: no host, no pid, redacted notes (notes
    that still carry a path are dropped), no local file in ``source_ref``, and the strings
    of ``extra`` redacted the same way. Figures, factors and lineage are unchanged."""
    source_ref = public_text(report.source_ref) if report.source_ref else None
    return report.model_copy(update={
        "host": None, "pid": None, "notes": public_notes(report.notes),
        "source_ref": source_ref, "extra": _public_value(report.extra),
    })


def _public_value(value: Any) -> Any:
    if isinstance(value, str):
        return public_text(value)
    if isinstance(value, dict):
        return {str(k): _public_value(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_public_value(v) for v in value]
    return value


__all__ = ["public_notes", "public_report", "public_text"]
