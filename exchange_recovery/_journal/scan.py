"""Verifying a journal file line by line while replaying it: the streaming scan.

Every record is checked as the live controller checks a transition — the record starts from its
scope's current phase, the policy has that trigger from there to that destination, the relaxing
flag agrees with the policy, the version goes up — and, on top, that the file is what was
written: each record matches its own SHA-256, names the previous record's hash, and (with a
journal key) carries a MAC of its body under that key. Whether a record fits the graph is asked
of `misfit`, the one place that decides it for every door, instead of firing the `transitions`
machine record by record (that costs ~30 µs a record; this a few).

The file streams through, one line at a time: memory holds the phases, never the file, however
many records it has. Only the failure path reads on past a bad line (to tell a reordered record
from a missing one, and to collect every scope the file names).
"""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
import pathlib
import re
from collections.abc import Callable, Iterable, Mapping
from typing import IO, Final

import attrs

from .._core.codes import IntegrityCode, RefusalCode
from .._core.errors import ConfigurationError, render_context
from .._core.model import VENUE
from .._core.policy import Policy
from .._core.text import escape_text, shown
from .._decide.decide import Misfit, misfit
from .._decide.records import JournalNote, TransitionRecord
from .format import GENESIS, body_of, note_of, record_of, split_line
from .keys import JournalKey

_T = IntegrityCode


@attrs.frozen
class JournalProblem:
    """One thing wrong with a journal file: a stable code, the 1-based line, and the detail.

    Line 0 stands for the file as a whole or its anchor (a missing journal, a missing anchor).
    """

    code: IntegrityCode
    line: int
    detail: str

    def __str__(self) -> str:
        return f"{self.code.value} at line {self.line}: {self.detail}"


@attrs.define
class _Scan:
    phases: dict[str, str]
    version: int = 0
    head: str = GENESIS
    anchor: str = GENESIS
    records: int = 0
    good_end: int = 0
    size: int = 0
    problems: list[JournalProblem] = attrs.Factory(list)
    fatal: JournalProblem | None = None
    seen: set[str] = attrs.Factory(set)
    top_version: int = 0
    prior_version: int = 0
    """The version before the last record (to set a never-anchored relaxing record aside)."""
    last: bytes = b""
    """The last complete record line, without its newline."""
    visits: dict[str, int] = attrs.Factory(dict)
    """Per scope, the version at which it entered its replayed phase (approvals, auctions and
    deadlines name the visit)."""
    notes: dict[tuple[str, str], JournalNote] = attrs.Factory(dict)
    """The latest note per (topic, scope)."""
    prior_note: tuple[tuple[str, str], JournalNote | None] = (("", ""), None)
    """The last note's key and the note it replaced (to set a never-anchored note aside)."""
    prior_visit: tuple[str, int | None] = ("", None)
    """The last transition's scope and that scope's visit before it (to set it aside)."""


_Fields = tuple[tuple[str, type], ...]
_TRANSITION_FIELDS: _Fields = (
    ("scope", str), ("from", str), ("to", str), ("trigger", str), ("relaxing", bool),
)
_COMMON_FIELDS: _Fields = (
    ("hash", str), ("prev", str), ("version", int), ("actor", str), ("reason", str), ("time", str),
)
_NOTE_FIELDS: _Fields = (
    ("hash", str), ("prev", str), ("version", int), ("actor", str), ("time", str), ("topic", str),
    ("scope", str), ("note", dict),
)


def _shape_error(obj: object) -> str | None:
    """Why `obj` is not a record object, or None."""
    if type(obj) is not dict:
        return f"expected a JSON object, got {type(obj).__name__}"
    if obj.get("format") != 1:
        return f"format must be 1, got {obj.get('format')!r}"
    kind = obj.get("kind")
    if kind == "transition":
        fields = _COMMON_FIELDS + _TRANSITION_FIELDS
    elif kind == "snapshot":
        phases = obj.get("phases")
        if type(phases) is not dict or not all(type(v) is str for v in phases.values()):
            return f"snapshot phases must map scopes to phase names, got {phases!r}"
        fields = _COMMON_FIELDS
    elif kind == "note":
        fields = _NOTE_FIELDS
        stamp = obj.get("timestamp")
        if type(stamp) not in (int, float) or not 0 <= stamp < 1e11:  # type: ignore[operator]
            return f"a note's timestamp must be a clock reading, got {shown(stamp)}"
        if not (type(obj.get("topic")) is str and obj["topic"].isidentifier()
                and type(obj.get("scope")) is str and obj["scope"]):
            return "a note needs an identifier topic and a scope"
    else:
        return f"kind must be 'transition', 'snapshot' or 'note', got {kind!r}"
    for name, expected in fields:
        if type(obj.get(name)) is not expected:
            return f"field {name!r} must be {expected.__name__}, got {obj.get(name)!r}"
    return None


_PROGRESS_EVERY: Final = 8192

OnProgress = Callable[[int, int], None]
"""Called as ``on_progress(lines_done, lines_total)`` during long verification."""


_BLOCK: Final = 1 << 20


RecordCheck = Callable[[TransitionRecord, int], "Misfit | None"]
"""Checks a replayed relaxing record against its scope's visit (signatures, approvals)."""


def scan(file: IO[bytes], policy: Policy, key: JournalKey | None = None,
         on_progress: OnProgress | None = None, check: RecordCheck | None = None) -> _Scan:
    """Verify and replay a journal file line by line; stop replaying at the first fatal problem.

    Memory holds the phases and one line, never the file: a million records stream through.
    """
    total = _count_lines(file) if on_progress is not None else 0
    result = _Scan(phases={VENUE: policy.initial})
    normal = policy.normal
    number, torn, last = 0, b"", b""
    for raw in file:
        if raw[-1] != 10:  # no newline: the last line, torn by a crash mid-write
            torn = raw
            break
        number += 1
        if on_progress is not None and not number % _PROGRESS_EVERY:
            _progress(on_progress, number, total)
        last = raw
        problem = _verify(raw[:-1], number, file, result, policy, normal, key, check)
        if problem is not None:
            result.fatal = problem
            result.problems.append(problem)
            number, torn = _collect_scopes((raw,), file, number - 1, result)
            break
    if on_progress is not None:
        _progress(on_progress, total, total)
    result.last = last[:-1]
    result.size = file.tell()
    result.good_end = result.size - len(torn)
    if torn:
        result.problems.append(JournalProblem(_T.TORN_TAIL, number + 1,
                                              f"{len(torn)} bytes after the last complete "
                                              "record were dropped (a crash mid-write)"))
        if result.fatal is None and _RELAXING_FLAG not in torn and _NOTE_FLAG not in torn:
            # Only a relaxing record is written before it takes effect (and a note changes no
            # phase). Anything else that was torn may be a halt that was already published:
            # dropping it could reopen the venue.
            result.fatal = result.problems[0]
    return result


def _progress(on_progress: OnProgress, done: int, total: int) -> None:
    """Tell `on_progress`; a callback that raises is the caller's mistake, named as such."""
    try:
        on_progress(done, total)
    except Exception as exc:
        msg = f"on_progress raised {shown(exc)}"
        raise ConfigurationError(msg) from exc


def _count_lines(file: IO[bytes]) -> int:
    """How many complete lines `file` holds (read in blocks), leaving it at its start."""
    count = 0
    while block := file.read(_BLOCK):
        count += block.count(b"\n")
    file.seek(0)
    return count


_RELAXING_FLAG = b'"relaxing":true,'
"""In a torn line, proof that it was a write-ahead record, never published nor acknowledged."""


_NOTE_FLAG = b'"kind":"note",'
"""In a torn line, proof that it was a note (JSON escapes every quote inside a string, so no
text before it can forge the flag), which changes no phase and was never acknowledged."""


_STR = rb'"[^"\\\x00-\x1f]*(?:\\(?:["\\/bfnrt]|u[0-9a-fA-F]{4})[^"\\\x00-\x1f]*)*"'
_NAME = rb'"([\x20\x21\x23-\x5b\x5d-\x7e]*)"'  # ASCII, no escapes: scopes, phases, triggers
_CANONICAL_TRANSITION = re.compile(
    rb'\{"hash":"([0-9a-f]{64})",(?:"mac":"([0-9a-f]{64})",)?(?P<body>"actor":' + _STR
    + rb',"format":1,"from":' + _NAME + rb',"kind":"transition","prev":"([0-9a-f]{64})",'
    rb'"reason":' + _STR + rb',"relaxing":(true|false),"scope":' + _NAME + rb',"time":' + _STR
    + rb',"to":' + _NAME + rb',"trigger":' + _NAME + rb',"version":(0|[1-9][0-9]*)\})'
).fullmatch
"""A transition line as `encode` writes it (ASCII names without escapes): matching it costs a
third of json.loads. Any other line takes the JSON path, with the same checks."""


Parsed = tuple[str, str, int, str, str, str, str, bool, "dict[str, str] | JournalNote | None"]
"""(hash, prev, version, scope, from, to, trigger, relaxing, snapshot phases or the note) of a
record whose hash (and MAC, with a key) verified."""


def parse(raw: bytes, number: int, key: JournalKey | None) -> Parsed | JournalProblem:
    """One line's fields, from the canonical fast path or from JSON, once its hash and MAC
    verify; or why it is no record, or not the record that was written."""
    match = _CANONICAL_TRANSITION(raw)
    if match is not None:
        digest, mac, source, prev, relax, scope, dest, trigger, version = match.group(
            1, 2, 4, 5, 6, 7, 8, 9, 10)
        stored = digest.decode()  # every group is ASCII: decoding cannot fail
        body = b"{" + raw[match.start("body"):]
        problem = _authentic(body, stored, None if mac is None else mac.decode(), number, key)
        if problem is not None:
            return problem
        return (stored, prev.decode(), int(version), scope.decode(), source.decode(),
                dest.decode(), trigger.decode(), relax == b"true", None)
    try:
        obj = json.loads(raw)
    except (ValueError, RecursionError) as exc:  # nesting too deep for any record: not one
        return JournalProblem(_T.UNPARSEABLE_RECORD, number, f"not JSON: {exc}")
    shape = _shape_error(obj)
    if shape is not None:
        return JournalProblem(_T.UNPARSEABLE_RECORD, number, shape)
    parts = split_line(raw)
    if parts is None or parts[0] != obj["hash"]:
        return JournalProblem(_T.HASH_MISMATCH, number, _altered(obj["hash"]))
    problem = _authentic(body_of(raw, parts[2]), parts[0], parts[1], number, key)
    if problem is not None:
        return problem
    if obj["kind"] == "transition":
        return (obj["hash"], obj["prev"], obj["version"], obj["scope"], obj["from"], obj["to"],
                obj["trigger"], obj["relaxing"], None)
    if obj["kind"] == "note":
        try:
            note = note_of(obj)
        except ConfigurationError as exc:  # data a writer would have refused
            return JournalProblem(_T.UNPARSEABLE_RECORD, number, f"note: {exc}")
        return obj["hash"], obj["prev"], obj["version"], note.scope, "", "", "", False, note
    return obj["hash"], obj["prev"], obj["version"], "", "", "", "", False, obj["phases"]


def _authentic(body: bytes, digest: str, mac: str | None, number: int,
               key: JournalKey | None) -> JournalProblem | None:
    """Whether `body` hashes to `digest` and, with a key, carries its MAC."""
    if hashlib.sha256(body).hexdigest() != digest:
        return JournalProblem(_T.HASH_MISMATCH, number, _altered(digest))
    if key is None:
        if mac is None:
            return None
        return JournalProblem(_T.KEY_MISSING, number, "the record carries a MAC; no journal "
                              "key was given to check it")
    if mac is None:
        return JournalProblem(_T.MAC_MISMATCH, number, "the record has no MAC: it was written "
                              "without the journal key (or forged)")
    if not hmac.compare_digest(key.mac(body).encode(), mac.encode()):
        return JournalProblem(_T.MAC_MISMATCH, number, "the record's MAC does not verify with "
                              f"the journal key {key.fingerprint} (forged, or another key)")
    return None


def _altered(digest: str) -> str:
    return f"the record's content does not match its hash {digest[:12]}…"


_MISFIT_CODES: Final[Mapping[RefusalCode, IntegrityCode]] = {
    RefusalCode.PHASE_MISMATCH: _T.SOURCE_MISMATCH,
    RefusalCode.TRANSITION_NOT_ALLOWED: _T.ILLEGAL_TRANSITION,
}


def _verify(raw: bytes, number: int, rest: IO[bytes], scan: _Scan, policy: Policy,
            normal: str, key: JournalKey | None,
            check: RecordCheck | None = None) -> JournalProblem | None:
    """Check one line against everything before it and apply it to `scan`; or say why not.

    `rest` is the file, positioned just after this line.
    """
    parsed = parse(raw, number, key)
    if isinstance(parsed, JournalProblem):
        return parsed
    digest, prev, version, scope, source, dest, trigger, relax, snap = parsed
    if isinstance(snap, JournalNote):
        return _apply_note(snap, digest, prev, number, rest, scan)
    snapshot = snap is not None
    if number == 1 and (snapshot or prev == GENESIS):
        scan.anchor = prev  # a snapshot opening a file continues an archived chain
    elif prev != scan.head:
        if _appears_later(rest, prev):
            return JournalProblem(_T.RECORDS_REORDERED, number, f"version {version}'s "
                                  "predecessor appears later in the file")
        return JournalProblem(_T.CHAIN_BROKEN, number, f"version {version} follows a record "
                              f"that is not here (after version {scan.version})")
    if number > 1 and (version < scan.version or (version == scan.version and not snapshot)):
        return JournalProblem(_T.VERSION_REGRESSION, number,
                              f"version {version} after version {scan.version}")
    phases = scan.phases
    if snap is not None:
        problem = _apply_snapshot(snap, number, scan, policy)
        if problem is not None:
            return problem
        scan.visits = dict.fromkeys(snap, version)
    else:
        wrong = misfit(policy, phases.get(scope, normal), source, trigger, dest, relax)
        if wrong is not None:
            return JournalProblem(_MISFIT_CODES[wrong.code], number,
                                  _misfit_detail(wrong, version, scope, trigger))
        if check is not None:
            problem = _check_record(raw, number, version, scope, relax, scan, check)
            if problem is not None:
                return problem
        scan.prior_visit = (scope, scan.visits.get(scope))
        scan.visits[scope] = version
        phases[scope] = dest
    scan.prior_version = scan.version
    scan.version = scan.top_version = version
    scan.head = digest
    scan.records += 1
    return None


def _apply_note(note: JournalNote, digest: str, prev: str, number: int, rest: IO[bytes],
                scan: _Scan) -> JournalProblem | None:
    """A note: chained like any record, at the version it follows (it advances nothing)."""
    if not (number == 1 and prev == GENESIS) and prev != scan.head:
        if _appears_later(rest, prev):
            return JournalProblem(_T.RECORDS_REORDERED, number, "a note's predecessor appears "
                                  "later in the file")
        return JournalProblem(_T.CHAIN_BROKEN, number, f"a note follows a record that is not "
                              f"here (after version {scan.version})")
    if note.version != scan.version:
        return JournalProblem(_T.VERSION_REGRESSION, number, f"a note at version "
                              f"{note.version} after version {scan.version}")
    key = (note.topic, note.scope)
    scan.prior_note = (key, scan.notes.get(key))
    scan.notes[key] = note
    scan.prior_version = scan.version
    scan.head = digest
    scan.records += 1
    return None


def _check_record(raw: bytes, number: int, version: int, scope: str, relax: bool, scan: _Scan,
                  check: RecordCheck) -> JournalProblem | None:
    """A relaxing record must pass `check` (its signatures and approvals, for its visit)."""
    if relax:
        try:
            record = record_of(json.loads(raw))
        except (ValueError, TypeError, KeyError, RecursionError) as exc:
            return JournalProblem(_T.SIGNATURE_INVALID, number, f"version {version}: "
                                  f"its trust fields do not parse: {exc}")
        bad = check(record, scan.visits.get(scope, 0))
        if bad is not None:
            return JournalProblem(_T.SIGNATURE_INVALID, number, f"version {version} by "
                                  f"{escape_text(record.actor, 80)}: {bad.code.value} "
                                  f"{escape_text(render_context(bad.context), 300)}")
    return None


def _misfit_detail(wrong: Misfit, version: int, scope: str, trigger: str) -> str:
    """A replayed record's misfit in words, from the values `misfit` decided on."""
    c = wrong.context
    if wrong.code is RefusalCode.PHASE_MISMATCH:
        return f"version {version} moves {scope} from {c['source']}, but it is in {c['current']}"
    if "relaxing" in c:
        return (f"version {version} says relaxing={c['relaxing']}, the policy says "
                f"relaxing={c['policy_relaxing']}")
    return (f"version {version}: the policy has no {trigger!r} from {c['source']} to "
            f"{c['dest']} (from {c['source']} it has {c['allowed']})")


def _appears_later(rest: IO[bytes], digest: str) -> bool:
    """Whether a complete line after `rest`'s position has hash `digest`.

    Only on the failure path: a second pass over the rest of the file, which is then put back
    where it was.
    """
    at = rest.tell()
    try:
        return any(raw[-1] == 10 and raw[9:73].decode("ascii", "replace") == digest
                   for raw in rest)
    finally:
        rest.seek(at)


_SHOWN: Final = 5
"""How many scopes a snapshot problem names: a snapshot may hold 100,000 of them."""


def _apply_snapshot(snap: dict[str, str], number: int, scan: _Scan,
                    policy: Policy) -> JournalProblem | None:
    if VENUE not in snap:
        return JournalProblem(_T.SNAPSHOT_MISMATCH, number, f"snapshot has no {VENUE!r} scope")
    unknown = sorted(set(snap.values()).difference(policy.phase_names))
    if unknown:
        return JournalProblem(_T.SNAPSHOT_MISMATCH, number, "snapshot names phases the policy "
                              f"lacks: {_some(unknown)}")
    replayed = scan.phases
    if number > 1 and snap != replayed:
        differ = sorted(s for s in snap.keys() | replayed.keys() if snap.get(s) != replayed.get(s))
        shown = [f"{s} {snap.get(s)} (replayed {replayed.get(s)})" for s in differ[:_SHOWN]]
        return JournalProblem(_T.SNAPSHOT_MISMATCH, number, f"snapshot differs from the "
                              f"replayed phases in {len(differ)} scope(s): {_some(shown, len(differ))}")
    scan.phases = snap  # parsed for this scan alone: adopted, not copied (100,000 scopes)
    return None


def _some(items: list[str], count: int | None = None) -> str:
    """The first few of `count` (default: all) items, and how many more there are."""
    count = len(items) if count is None else count
    more = f" and {count - _SHOWN} more" if count > _SHOWN else ""
    return ", ".join(items[:_SHOWN]) + more


def _collect_scopes(first: Iterable[bytes], rest: IO[bytes], number: int,
                    scan: _Scan) -> tuple[int, bytes]:
    """Best effort, after a fatal problem: every scope and the highest version mentioned in
    `first` and the rest of the file. Returns the number of the last complete line and the torn
    tail (the last line if it has no newline, else empty)."""
    for raw in itertools.chain(first, rest):
        if raw[-1] != 10:
            return number, raw
        number += 1
        try:
            obj = json.loads(raw)
        except (ValueError, RecursionError):
            continue
        if type(obj) is not dict:
            continue
        if type(obj.get("scope")) is str and obj["scope"]:
            scan.seen.add(obj["scope"])
        if type(obj.get("phases")) is dict:
            scan.seen.update(k for k in obj["phases"] if type(k) is str and k)
        if type(obj.get("version")) is int:
            scan.top_version = max(scan.top_version, obj["version"])
    return number, b""


def scan_file(path: pathlib.Path, policy: Policy, key: JournalKey | None = None,
              on_progress: OnProgress | None = None,
              check: RecordCheck | None = None) -> _Scan | None:
    """`scan` of the journal at `path`, or None if there is none."""
    try:
        file = open(path, "rb")  # noqa: SIM115 - closed below; open() alone may raise
    except FileNotFoundError:
        return None
    except IsADirectoryError:
        msg = f"journal path {path} is a directory"
        raise ConfigurationError(msg) from None
    with file:
        return scan(file, policy, key, on_progress, check)
