"""Text made safe to store and to publish: no password, no secret, no local path.

Everything DIA writes from an exception or a URL goes through here: the notes of a run
report, store URLs in messages, the errors a public dashboard shows. The rules:

- a password in a URL becomes ``***``, in every form: ``user:password@host`` (also with an
  unescaped ``@`` inside the password) and ``?password=...`` (also ``token``, ``secret``,
  ``key`` and similar query keys);
- ``password=...`` (and the other credential keys) outside a URL, as in a libpq connection
  string, becomes ``password=***``;
- the value of an environment variable (8 characters or more, not a plain number) becomes
  ``$NAME``: an exception message that quotes a token from the environment does not leak it;
- an absolute path under the home directory becomes ``~/...``; any other absolute path
  becomes its file name, so no user name or folder layout is published.

>>> mask_url("postgresql://ana:p@ss@db.example.org/dia")
'postgresql://ana:***@db.example.org/dia'
>>> mask_url("postgresql://ana@db.example.org/dia?password=S3cret&sslmode=require")
'postgresql://ana@db.example.org/dia?password=***&sslmode=require'
>>> redact_text("cannot open '/srv/data/dia.sqlite'", home="/home/ana", environ={})
"cannot open 'dia.sqlite'"
>>> redact_text("no such file: /home/ana/runs/x.jsonl", home="/home/ana", environ={})
'no such file: ~/runs/x.jsonl'
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import PurePosixPath, PureWindowsPath

MASK = "***"

# Query keys whose value is a credential (libpq's ``password`` and ``sslpassword``, and the
# usual API spellings). Matched case-insensitively on the whole key.
_SECRET_KEY = re.compile(r"(?:ssl)?pass(?:word|wd)?|pwd|secret|token|(?:api|access|private)?_?key|auth"
                         r"|credentials?|access_token|sig(?:nature)?", re.IGNORECASE)
# ``password=...`` outside a URL (a libpq connection string quoted in an error message).
_SECRET_PAIR = re.compile(r"(?<![\w\-])(" + _SECRET_KEY.pattern + r")=([^\s&'\"<>`,;)\]]+)", re.IGNORECASE)
# A URL with a scheme: up to the first whitespace or quote.
_URL = re.compile(r"\b[A-Za-z][A-Za-z0-9+.\-]*://[^\s'\"<>`]+")
# An absolute POSIX path not inside a word, a URL or a home-relative path, or a Windows path.
_POSIX_PATH = re.compile(r"(?<![\w:/.~$\-\\])/[^\s'\"`<>|;,()\[\]{}]+")
_WINDOWS_PATH = re.compile(r"(?<![\w])[A-Za-z]:\\[^\s'\"`<>|;,()\[\]{}]*")
_MIN_ENV_VALUE_CHARS = 8


def mask_url(url: str) -> str:
    """``url`` with its password (in the user part or the query string) replaced by ``***``.

    Works on URLs no parser accepts: the user part ends at the *last* ``@`` before the
    query, so an unescaped ``@`` in a password does not leak the password's tail.

    >>> mask_url("sqlite:///dia.sqlite")
    'sqlite:///dia.sqlite'
    >>> mask_url("postgresql+psycopg://u:a/b@host:5432/db")
    'postgresql+psycopg://u:***@host:5432/db'
    """
    scheme, sep, rest = url.partition("://")
    if not sep:
        return url
    before_query, qsep, query = rest.partition("?")
    user, at, host = before_query.rpartition("@")
    if at:
        name, colon, _password = user.partition(":")
        before_query = f"{name}:{MASK}@{host}" if colon else f"{user}@{host}"
    if qsep:
        query = "&".join(_mask_pair(pair) for pair in query.split("&"))
    return f"{scheme}://{before_query}{qsep}{query}"


def _mask_pair(pair: str) -> str:
    key, eq, _value = pair.partition("=")
    return f"{key}={MASK}" if eq and _SECRET_KEY.fullmatch(key) else pair


def redact_text(text: str, *, home: str | None = None, environ: Mapping[str, str] | None = None) -> str:
    """``text`` without passwords, environment values or absolute local paths.

    ``home`` (default: the user's home directory) and ``environ`` (default: this process's
    environment) are parameters so that tests and other processes' texts use their own.

    >>> redact_text("bad option (host=db password=S3cret)", home="/h", environ={})
    'bad option (host=db password=***)'
    >>> redact_text("token hf_abcdefghij rejected", home="/h", environ={"HF_TOKEN": "hf_abcdefghij"})
    'token $HF_TOKEN rejected'
    >>> redact_text("C:\\\\Users\\\\ana\\\\dia.sqlite is locked", home="/h", environ={})
    'dia.sqlite is locked'
    """
    home = os.path.expanduser("~") if home is None else home
    environ = os.environ if environ is None else environ
    text = _URL.sub(lambda m: _redact_url(m.group(0), home), text)
    text = _SECRET_PAIR.sub(lambda m: f"{m.group(1)}={MASK}", text)
    text = _redact_environment(text, environ)
    text = _POSIX_PATH.sub(lambda m: _redact_posix_path(m.group(0), home), text)
    return _WINDOWS_PATH.sub(lambda m: PureWindowsPath(m.group(0)).name or m.group(0), text)


def describe_error(exc: BaseException, *, limit: int = 300) -> str:
    """One redacted line for an exception: ``Type: message`` (first line, at most ``limit`` chars).

    >>> describe_error(OSError(28, "No space left on device"))
    'OSError: [Errno 28] No space left on device'
    """
    message = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    line = f"{type(exc).__name__}: {redact_text(message)}" if message else type(exc).__name__
    return line if len(line) <= limit else line[: limit - 3] + "..."


def _redact_url(url: str, home: str) -> str:
    masked = mask_url(url)
    scheme, _sep, rest = masked.partition("://")
    # sqlite:////abs/path and file:///abs/path name a local file: redact it like a path.
    if scheme.split("+")[0].lower() in ("sqlite", "file") and rest.startswith("/"):
        local = rest[1:] if scheme.lower().startswith("sqlite") else rest
        if local.startswith("/"):
            return f"{scheme}:///{_redact_posix_path(local, home)}"
    return masked


def _redact_environment(text: str, environ: Mapping[str, str]) -> str:
    values = sorted(((v, k) for k, v in environ.items()
                     if len(v) >= _MIN_ENV_VALUE_CHARS and not _is_number(v) and v in text),
                    key=lambda item: -len(item[0]))
    for value, name in values:
        if value.startswith("/") or value.rstrip("/") == "":
            continue  # a path: the path rule below says more (``~/x`` rather than ``$HOME/x``)
        text = text.replace(value, f"${name}")
    return text


def _is_number(value: str) -> bool:
    try:
        float(value)
    except ValueError:
        return False
    return True


def _redact_posix_path(path: str, home: str) -> str:
    home = home.rstrip("/")
    if home and (path == home or path.startswith(home + "/")):
        return "~" + path[len(home):]
    name = PurePosixPath(path).name
    return name or path


__all__ = ["MASK", "describe_error", "mask_url", "redact_text"]
