"""
A step's outcome in the store: the status object ``objlog run`` writes, and reading it back.

One JSON object per task at ``[PREFIX/]status/<pipelinerun>/<task>/status.json``
(`objlog._layout.status_key`), written when the step starts and overwritten
when it ends::

    {"format": 1, "pipelinerun": "pr1", "task": "train", "status": "succeeded",
     "started": "2026-11-21T11:40:30.123456Z", "finished": "2026-11-21T11:42:01.5Z",
     "duration": 91.38, "host": "node-3", "objlog_version": "0.4.0",
     "command": ["python", "train.py", "--token=***"],
     "exit_code": 0, "step_exit_code": 0, "signal": null,
     "lines": {"stored": 1200, "spooled": 0, "lost": 0},
     "bytes": {"output": 48211, "stored": 9130}, "results": ["metrics"]}

``status`` is ``running`` (written at the start; a step whose ``objlog run``
was killed by SIGKILL stays so for good), ``succeeded`` (``objlog run``
exited 0) or ``failed``; readers say ``unknown`` for a task without a status
object (logs written by the library, not by ``run``). ``exit_code`` is what
``objlog run`` exited with (what Tekton or Argo saw); ``step_exit_code`` the
step's own status (128 + N when signal N, named in ``signal``, killed it).
Times are RFC 3339 UTC, durations seconds, sizes bytes.

The command line is stored without secrets (`redact_argv`). Writing a status
never fails the step: `StatusWriter` reports a store error on stderr and
the step runs on.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import json
import re
import signal
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from objlog.errors import ObjlogError
from objlog.retry import RetryPolicy, retry_call
from objlog.typing import ObjectStore

__all__ = [
    "FAILED",
    "FINISHED",
    "REDACTED",
    "RUNNING",
    "SUCCEEDED",
    "UNKNOWN",
    "StatusWriter",
    "TaskStatus",
    "format_time",
    "parse_status",
    "parse_time",
    "redact_argv",
    "signal_name",
]

RUNNING = "running"
SUCCEEDED = "succeeded"
FAILED = "failed"
#: What readers report for a task without a status object.
UNKNOWN = "unknown"
#: The statuses that mean the step is over.
FINISHED = frozenset({SUCCEEDED, FAILED})
#: What a secret is replaced with.
REDACTED = "***"
_FORMAT = 1

# -- redaction ------------------------------------------------------------------

# A word that marks an option or variable as holding a secret.
_HIDDEN_WORD = (
    r"pass(?:word|wd|phrase)?|pwd|secret|token|api[-_]?key|apikey|access[-_]?key"
    r"|private[-_]?key|secret[-_]?key|credentials?|auth|session[-_]?key|signature|sig"
)
# An option name (after its dashes) ending in a secret word: --password, --db-pass,
# --auth-token; not --password-file or --password-stdin (no secret follows), nor --no-auth.
_SECRET_OPTION = re.compile(rf"(?i)^(?!no[-_])(?:[a-z0-9]+[-_])*(?:{_HIDDEN_WORD})$")
# An environment-style assignment, NAME=VALUE, with a secret word anywhere in NAME
# (PGPASSWORD, MYSQL_PWD, AWS_SECRET_ACCESS_KEY, HF_TOKEN): names are compact there.
_SECRET_ASSIGNMENT = re.compile(
    r"(?i)^(?=[a-z_])[a-z0-9_]*(?:pass|pwd|secret|token|key|credential|auth|signature)[a-z0-9_]*=",
    re.ASCII,
)
# user:password@ in a URL.
_URL_USERINFO = re.compile(r"(?i)([a-z][a-z0-9+.-]*://[^/?#@\s:]*:)[^/?#@\s]*@")
# A secret query parameter: ?token=..., &X-Amz-Signature=..., &sig=... (Azure SAS).
_URL_QUERY = re.compile(
    rf"(?i)([?&;](?:[a-z0-9]+[-_])*(?:{_HIDDEN_WORD}|key|x-amz-credential"
    rf"|x-amz-security-token)=)[^&;#\s]*"
)
# An HTTP header given on the command line: curl -H "Authorization: Bearer x".
_HEADER = re.compile(
    r"(?i)^((?:proxy-)?authorization|cookie|x-api-key|x-auth-token|x-amz-security-token)"
    r"(\s*:\s*).*$"
)
# Options whose value is user:password (curl -u, wget --user... with a colon).
_USER_OPTIONS = frozenset({"-u", "--user", "--proxy-user"})


def _redact_text(arg: str) -> str:
    """Redact secrets inside one argument: URL passwords and query secrets, headers."""
    arg = _URL_USERINFO.sub(lambda m: f"{m.group(1)}{REDACTED}@", arg)
    arg = _URL_QUERY.sub(lambda m: f"{m.group(1)}{REDACTED}", arg)
    return _HEADER.sub(lambda m: f"{m.group(1)}{m.group(2)}{REDACTED}", arg)


def redact_argv(argv: Sequence[str]) -> list[str]:
    """
    Return a command line with the values of secret-looking arguments replaced by ``***``.

    Redacted, one output argument per input argument:

    * the value of a long option whose name ends in a secret word (password,
      passwd, pass, pwd, secret, token, api-key, access-key, private-key,
      credential(s), auth, signature, sig): ``--password X`` and
      ``--db-token=X`` become ``--password ***`` and ``--db-token=***``
      (``--password-file PATH``, ``--password-stdin`` and ``--no-auth`` are
      kept: no secret follows them);
    * ``NAME=VALUE`` where NAME holds pass, pwd, secret, token, key,
      credential, auth or signature anywhere (``AWS_SECRET_ACCESS_KEY=...``,
      ``PGPASSWORD=...``, ``api_key=...``; ``KEYBOARD=us`` too: better
      hidden than shown);
    * the password of a URL (``https://user:***@host``) and secret query
      parameters (``?token=``, ``X-Amz-Signature=``, ``X-Amz-Credential=``,
      ``sig=``) anywhere in an argument;
    * HTTP headers given as arguments (``Authorization: ***``, ``Cookie``,
      ``X-Api-Key``), and the password of ``-u``/``--user USER:PASSWORD``.

    A heuristic, not a guarantee: a secret passed as a plain positional
    argument, or after a short option such as ``mysql -pSECRET``, is kept.

    Args:
        argv: The command line.

    Returns:
        A new list of the same length.

    Thread safety: pure function.
    """
    out: list[str] = []
    hide_next = False
    user_next = False
    for arg in argv:
        if hide_next:
            out.append(REDACTED)
            hide_next = False
            continue
        if user_next:
            user_next = False
            name, colon, _ = arg.partition(":")
            out.append(f"{name}:{REDACTED}" if colon else arg)
            continue
        if arg.startswith("--") and len(arg) > 2:
            name, eq, _ = arg[2:].partition("=")
            if _SECRET_OPTION.match(name):
                if eq:
                    out.append(f"--{name}={REDACTED}")
                else:
                    out.append(arg)
                    hide_next = True
                continue
            if ("--" + name) in _USER_OPTIONS:
                if eq:
                    user, colon, _ = arg.partition("=")[2].partition(":")
                    out.append(f"--{name}={user}:{REDACTED}" if colon else arg)
                else:
                    out.append(arg)
                    user_next = True
                continue
        elif arg in _USER_OPTIONS:
            out.append(arg)
            user_next = True
            continue
        if _SECRET_ASSIGNMENT.match(arg):
            out.append(arg.partition("=")[0] + "=" + REDACTED)
            continue
        out.append(_redact_text(arg))
    return out


# -- the document ------------------------------------------------------------------


def format_time(when: _dt.datetime | None) -> str | None:
    """Return an aware datetime as RFC 3339 UTC with microseconds (``...Z``), None as None."""
    if when is None:
        return None
    return when.astimezone(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_time(value: object) -> _dt.datetime | None:
    """
    An RFC 3339 / ISO 8601 string as an aware UTC datetime (naive: UTC); None if not one.

    Thread safety: pure function.
    """
    if not isinstance(value, str) or not value:
        return None
    text = value[:-1] + "+00:00" if value.endswith(("Z", "z")) else value
    try:
        parsed = _dt.datetime.fromisoformat(text)
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=_dt.timezone.utc)
    return parsed.astimezone(_dt.timezone.utc)


def signal_name(signum: int) -> str:
    """Return ``SIGTERM`` for 15, or ``SIG<N>`` for a number Python does not name."""
    try:
        return signal.Signals(signum).name
    except ValueError:
        return f"SIG{signum}"


def _int_or_none(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _count(mapping: object, name: str) -> int:
    if isinstance(mapping, Mapping):
        return _int_or_none(mapping.get(name)) or 0
    return 0


@dataclass(frozen=True, slots=True, kw_only=True)
class TaskStatus:
    """
    A task's outcome as its status object says (or `UNKNOWN` without one).

    Attributes:
        pipelinerun: The run's name (from the key, not the document).
        task: The task's name (from the key).
        status: `RUNNING`, `SUCCEEDED`, `FAILED` or `UNKNOWN`.
        started: When the step started (aware UTC), or None.
        finished: When it ended, or None while running or unknown.
        exit_code: What ``objlog run`` exited with, or None when unknown.
        step_exit_code: The step's own status (128 + N for signal N), or None.
        signal: The signal that killed the step (``SIGTERM``), or None.
        host: The host ``objlog run`` ran on ("" when unknown).
        command: The command line, secrets redacted.
        objlog_version: The version of objlog that wrote it ("" when unknown).
        lines_stored: Log lines stored by the end of the step.
        lines_spooled: Log lines left in the spool at the end.
        lines_lost: Log lines lost.
        output_bytes: Bytes the step printed.
        stored_bytes: Bytes of log objects stored (compressed).
        results: Names of the results stored.

    Thread safety: immutable.
    """

    pipelinerun: str
    task: str
    status: str = UNKNOWN
    started: _dt.datetime | None = None
    finished: _dt.datetime | None = None
    exit_code: int | None = None
    step_exit_code: int | None = None
    signal: str | None = None
    host: str = ""
    command: tuple[str, ...] = ()
    objlog_version: str = ""
    lines_stored: int = 0
    lines_spooled: int = 0
    lines_lost: int = 0
    output_bytes: int = 0
    stored_bytes: int = 0
    results: tuple[str, ...] = ()

    @property
    def is_finished(self) -> bool:
        """True when the status is `SUCCEEDED` or `FAILED`."""
        return self.status in FINISHED

    @property
    def duration(self) -> float | None:
        """Seconds from start to end, or None unless both are known."""
        if self.started is None or self.finished is None:
            return None
        return (self.finished - self.started).total_seconds()

    def as_json(self) -> dict[str, Any]:
        """
        Return the fields ``objlog ls --json`` prints for a task.

        Returns:
            ``pipelinerun``, ``task``, ``status``, ``exit_code`` (None when
            unknown), ``started`` and ``finished`` (RFC 3339 UTC or None),
            ``duration`` (seconds or None), ``step_exit_code``, ``signal``,
            ``host``, ``lines`` (stored, spooled, lost) and ``results``.
        """
        return {
            "pipelinerun": self.pipelinerun,
            "task": self.task,
            "status": self.status,
            "exit_code": self.exit_code,
            "started": format_time(self.started),
            "finished": format_time(self.finished),
            "duration": self.duration,
            "step_exit_code": self.step_exit_code,
            "signal": self.signal,
            "host": self.host,
            "lines": {
                "stored": self.lines_stored,
                "spooled": self.lines_spooled,
                "lost": self.lines_lost,
            },
            "results": list(self.results),
        }

    def document(self) -> dict[str, Any]:
        """Return the JSON document stored for this status (see the module docstring)."""
        return {
            "format": _FORMAT,
            "pipelinerun": self.pipelinerun,
            "task": self.task,
            "status": self.status,
            "started": format_time(self.started),
            "finished": format_time(self.finished),
            "duration": self.duration,
            "host": self.host,
            "objlog_version": self.objlog_version,
            "command": list(self.command),
            "exit_code": self.exit_code,
            "step_exit_code": self.step_exit_code,
            "signal": self.signal,
            "lines": {
                "stored": self.lines_stored,
                "spooled": self.lines_spooled,
                "lost": self.lines_lost,
            },
            "bytes": {"output": self.output_bytes, "stored": self.stored_bytes},
            "results": list(self.results),
        }

    def encode(self) -> bytes:
        """Return the stored bytes: `document` as one line of UTF-8 JSON."""
        return json.dumps(self.document(), ensure_ascii=False).encode("utf-8") + b"\n"


def parse_status(data: bytes, pipelinerun: str, task: str) -> TaskStatus:
    """
    Decode a status object; fields that are missing or of the wrong type read as unknown.

    Args:
        data: The object's bytes.
        pipelinerun: The run named by its key (wins over the document's).
        task: The task named by its key.

    Returns:
        The status; `UNKNOWN` when the document's ``status`` is not one of
        `RUNNING`, `SUCCEEDED`, `FAILED`.

    Raises:
        ValueError: Not UTF-8 JSON holding an object.

    Thread safety: pure function.
    """
    doc = json.loads(data.decode("utf-8"))
    if not isinstance(doc, dict):
        raise ValueError("a status object must hold a JSON object")
    status = doc.get("status")
    if status not in (RUNNING, SUCCEEDED, FAILED):
        status = UNKNOWN
    command = doc.get("command")
    results = doc.get("results")
    sig = doc.get("signal")
    host = doc.get("host")
    version = doc.get("objlog_version")
    return TaskStatus(
        pipelinerun=pipelinerun,
        task=task,
        status=status,
        started=parse_time(doc.get("started")),
        finished=parse_time(doc.get("finished")),
        exit_code=_int_or_none(doc.get("exit_code")),
        step_exit_code=_int_or_none(doc.get("step_exit_code")),
        signal=sig if isinstance(sig, str) else None,
        host=host if isinstance(host, str) else "",
        command=tuple(str(a) for a in command) if isinstance(command, list) else (),
        objlog_version=version if isinstance(version, str) else "",
        lines_stored=_count(doc.get("lines"), "stored"),
        lines_spooled=_count(doc.get("lines"), "spooled"),
        lines_lost=_count(doc.get("lines"), "lost"),
        output_bytes=_count(doc.get("bytes"), "output"),
        stored_bytes=_count(doc.get("bytes"), "stored"),
        results=tuple(str(r) for r in results) if isinstance(results, list) else (),
    )


# -- writing -------------------------------------------------------------------------


class _Superseded(Exception):
    """The start status gave way to the end status (ends its retries)."""


#: Time allowed for one status PUT with its retries, seconds.
STATUS_TIMEOUT = 5.0


class StatusWriter:
    """
    Store a task's status object: the start in the background, the end in the caller.

    A store error is reported through `say` and otherwise ignored: a status
    never fails or delays the step beyond `timeout` seconds.

    Args:
        store: The store.
        key: From `objlog._layout.status_key`.
        say: Receives one-line warnings (default: none).
        timeout: Seconds for one status PUT with its retries (default 5.0).

    Thread safety: call `start` then `finish` from one thread; the start
    PUT runs on a daemon thread of its own.
    """

    def __init__(
        self,
        store: ObjectStore,
        key: str,
        say: Callable[[str], None] | None = None,
        *,
        timeout: float = STATUS_TIMEOUT,
    ) -> None:
        self._store = store
        self._key = key
        self._say = say
        self._timeout = timeout
        self._superseded = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self, status: TaskStatus) -> None:
        """Store `status` (running) on a background thread and return at once."""
        body = status.encode()
        self._thread = threading.Thread(
            target=self._put, args=(body, True), name="objlog-run-status", daemon=True
        )
        self._thread.start()

    def finish(self, status: TaskStatus) -> bool:
        """
        Store the end `status`, after the start PUT (so it cannot overwrite this one).

        Retries of the start PUT stop at once; one in flight is waited for,
        up to the timeout.

        Returns:
            True when the status was stored.
        """
        self._superseded.set()
        if self._thread is not None:
            self._thread.join(self._timeout)
        return self._put(status.encode(), False)

    def _sleep(self, seconds: float) -> None:
        if self._superseded.wait(seconds):
            raise _Superseded

    def _put(self, body: bytes, background: bool) -> bool:
        policy = RetryPolicy(total_timeout=self._timeout, max_backoff=2.0)

        def put() -> None:
            self._store.put_object(self._key, body, content_type="application/json")

        try:
            retry_call(put, policy, sleep=self._sleep if background else time.sleep)
        except _Superseded:
            return False
        except (ObjlogError, OSError, ValueError) as exc:
            if self._say is not None:
                with contextlib.suppress(Exception):
                    text = " ".join(str(exc).split()) or type(exc).__name__
                    self._say(f"warning: step status not stored at {self._key}: {text}")
            return False
        return True
