"""All DIA exceptions and warnings, in one module.

Every error DIA raises on bad input derives from :class:`DIAError`, whose message is a
single line naming the file, record and field concerned. The CLI prints that line and
exits non-zero (``exit_code``: 2 for a bad argument, else 1); it never shows a traceback
for a ``DIAError``. Problems that must not stop the user's code are :class:`DIAWarning`.

>>> from dia.errors import DIAError, InvalidArgumentError
>>> err = InvalidArgumentError("unknown meter 'bogus'")
>>> isinstance(err, DIAError) and isinstance(err, ValueError), err.exit_code
(True, 2)
"""

from __future__ import annotations


class DIAError(Exception):
    """Base class of every error DIA raises on purpose. ``str(err)`` is one line."""

    exit_code: int = 1


class DIAWarning(UserWarning):
    """A problem inside DIA that degraded a measurement; the user's code goes on."""


class InvalidArgumentError(DIAError, ValueError):
    """An argument of a DIA function or command is out of range or unknown (a usage error)."""

    exit_code = 2


class DashboardError(DIAError):
    """The dashboard cannot be served (Streamlit missing, the server exited or did not answer)."""


class InvalidReportError(DIAError, ValueError):
    """A run report (or a record in a JSONL file) does not validate."""


class StoreError(DIAError):
    """The store cannot be opened, read or written (URL shown with its password masked)."""


class UnknownLocationError(DIAError, LookupError):
    """A country, sub-national region or cloud region DIA has no factors for."""


class ConflictingLocationError(UnknownLocationError):
    """A country or region given beside a cloud region that lies elsewhere (both are named)."""


class InvalidFactorError(DIAError, ValueError):
    """A user-supplied factor override is negative, not a number or otherwise unusable."""


class UnknownRelationError(DIAError, ValueError):
    """A lineage relation or run kind outside DIA's vocabulary and its aliases."""


class InvalidModelIdError(DIAError, ValueError):
    """A string that is not a model id (``org/name`` or ``name``)."""


class LineageCycleError(DIAError):
    """Adding an edge would create a cycle (or self-loop) in the lineage graph."""


class UnknownModelError(DIAError, LookupError):
    """A model id the store knows nothing about (close matches are suggested)."""


class CardError(DIAError):
    """A model card that cannot be read or used (YAML error, bad field, too large)."""


class HubError(DIAError):
    """The Hugging Face Hub could not be reached or refused a request."""


class InvalidSettingError(DIAError, ValueError):
    """A ``DIA_*`` environment variable holds a value DIA cannot use (see :mod:`dia.settings`)."""


def did_you_mean(name: str, known: list[str] | tuple[str, ...], n: int = 3) -> str:
    """Return ``" (did you mean: a, b?)"`` for the closest known names, or ``""``."""
    import difflib

    lowered = {k.lower(): k for k in known}
    close = difflib.get_close_matches(name.lower(), list(lowered), n=n, cutoff=0.5)
    if not close:
        return ""
    return " (did you mean: " + ", ".join(lowered[c] for c in close) + "?)"


class UnsupportedSchemaError(DIAError):
    """A report of a newer major schema version (``2.0``) than this DIA reads: upgrade DIA.

    Not a ``ValueError`` on purpose: raised while a report is validated, it passes through
    pydantic unchanged, so a reader can tell "too new" from "malformed".
    """
