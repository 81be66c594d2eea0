"""Signed approvals: canonical bytes, signing, and counting distinct, authorized approvers.

An approval is a principal's signed consent to one transition (trigger, source -> dest) of one
scope during one visit of a phase (`visit`: the version at which the scope entered its current
phase), under one policy (`policy_fingerprint`). The signature covers exactly these fields, as
`canonical_bytes`: a domain-separation line, then compact JSON with sorted keys, UTF-8.
`verify_approvals` counts the distinct principals (by skeleton, not spelling) that the
directory knows, that hold a needed role, whose signature verifies, and that are not the firer.

Example:
    >>> from exchange_recovery._trust.directory import Principal, StaticDirectory
    >>> from exchange_recovery._trust.signing import KeyFileSigner, generate_keypair
    >>> (alice_pem, alice_pub), (bob_pem, bob_pub) = generate_keypair(), generate_keypair()
    >>> directory = StaticDirectory([Principal("ops:alice", "Alice", {"operator"}, alice_pub),
    ...                              Principal("ops:bob", "Bob", {"supervisor"}, bob_pub)])
    >>> edge = dict(scope="venue", trigger="open", source="PRE_OPEN", dest="FULL_OPEN", visit=7,
    ...             policy_fingerprint="ab12")
    >>> bob = KeyFileSigner.from_bytes("ops:bob", bob_pem)
    >>> approval = sign_approval(bob, at=1700000000.0, **edge)
    >>> result = verify_approvals(directory, [approval], needed=1, roles=frozenset({"supervisor"}),
    ...                           firer="ops:alice", **edge)
    >>> result.ok, result.approvers
    (True, ('ops:bob',))
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import math
import re
from collections.abc import Iterable, Mapping
from typing import Final

import attrs

from .._core.errors import ConfigurationError
from .._core.policy import Policy
from .._core.toml import dump_policy
from .codes import TrustCode
from .directory import Directory, Principal
from .errors import IdentityError, SigningError, bounded_repr
from .ids import canonical_id, skeleton
from .signing import SIGNATURE_BYTES, Signer, verify

_MAX_FIELD: Final = 4096
"""The longest text an approval field holds (a fingerprint is 64, a scope 64, a reason none)."""

_DOMAIN: Final = re.compile(r"[a-z][a-z_]{0,31}")
_EDGE: Final = ("scope", "trigger", "source", "dest", "visit", "policy")


def _plain(value: object, where: str) -> None:
    """Refuse what JSON would encode ambiguously or not at all (non-str keys, NaN, objects)."""
    if value is None or isinstance(value, str | bool | int):
        return
    if isinstance(value, float):
        if not math.isfinite(value):
            msg = f"cannot sign {where}: {value!r} is not a finite number"
            raise SigningError(msg)
        return
    if isinstance(value, list | tuple):
        for index, item in enumerate(value):
            _plain(item, f"{where}[{index}]")
        return
    if isinstance(value, Mapping):
        for key, item in value.items():
            if not isinstance(key, str):
                msg = f"cannot sign {where}: key {key!r} is not a str"
                raise SigningError(msg)
            _plain(item, f"{where}.{key}")
        return
    msg = f"cannot sign {where}: {type(value).__name__} is not a JSON value"
    raise SigningError(msg)


def canonical_bytes(fields: Mapping[str, object], *, domain: str = "approval") -> bytes:
    """The bytes a signature covers: ``exchange_recovery/<domain>/v1\\n`` then compact JSON.

    Keys sorted, no spaces, UTF-8 (non-ASCII as itself), floats as Python's shortest repr.
    The domain line keeps a signature over one kind of thing (an approval, a record) from
    being replayed as another.

    Raises:
        SigningError: a value is not plain JSON (str, int, finite float, bool, None, lists,
            mappings with str keys), a string cannot be encoded (a lone surrogate), or the
            domain is not a short lowercase name.

    Example:
        >>> canonical_bytes({"scope": "venue", "at": 1.5})
        b'exchange_recovery/approval/v1\\n{"at":1.5,"scope":"venue"}'
    """
    if not isinstance(domain, str) or not _DOMAIN.fullmatch(domain):
        msg = f"domain must be a short lowercase name (letters and _), got {bounded_repr(domain)}"
        raise SigningError(msg)
    _plain(fields, "fields")
    if not isinstance(fields, Mapping):
        msg = f"cannot sign fields: expected a mapping, got {type(fields).__name__}"
        raise SigningError(msg)
    try:
        body = json.dumps(fields, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                          allow_nan=False).encode("utf-8")
    except UnicodeEncodeError as error:
        msg = f"cannot sign fields: a string cannot be encoded as UTF-8 ({error.reason})"
        raise SigningError(msg) from None
    return f"exchange_recovery/{domain}/v1\n".encode() + body


def policy_fingerprint(policy: Policy) -> str:
    """The SHA-256 (hex) of the policy's file form (`dump_policy`, which is deterministic).

    Binds an approval or a record to the policy it was given under: the same policy, whatever
    object holds it, has the same fingerprint; any change of a phase, a rule or an edge does not.

    Example:
        >>> from exchange_recovery import default_policy
        >>> len(policy_fingerprint(default_policy()))
        64
    """
    if not isinstance(policy, Policy):
        msg = f"policy_fingerprint needs a Policy, got {type(policy).__name__}"
        raise ConfigurationError(msg)
    return hashlib.sha256(dump_policy(policy).encode("utf-8")).hexdigest()


_MAX_VISIT: Final = 2**63 - 1
"""The largest version a visit names (a journal's versions are 64-bit)."""


def _visit(value: object) -> int | str:
    if (type(value) is int and 0 <= value <= _MAX_VISIT) or (
            type(value) is str and len(value) <= _MAX_FIELD):
        return value
    msg = (f"visit must be an int from 0 to 2**63-1 (the phase's entry version) or a str, got "
           f"{bounded_repr(value)}")
    raise SigningError(msg)


def _at(value: object) -> float:
    if type(value) in (int, float) and -1e15 <= value <= 1e15:  # type: ignore[operator]  # nan: no
        return float(value)  # type: ignore[arg-type]  # checked: an int or a float in range
    msg = f"at must be a finite number of seconds (at most 1e15), got {bounded_repr(value)}"
    raise SigningError(msg)


def _str(_instance: object, attribute: attrs.Attribute[str], value: object) -> None:
    """An approval's text field: exactly a str (a subclass could hash or compare otherwise)."""
    if type(value) is not str or len(value) > _MAX_FIELD:
        msg = (f"approval {attribute.name} must be a str of at most {_MAX_FIELD} characters, "
               f"got {bounded_repr(value)}")
        raise SigningError(msg)


def _bytes(_instance: object, attribute: attrs.Attribute[bytes], value: object) -> None:
    if type(value) is not bytes:
        msg = f"approval {attribute.name} must be bytes, got {bounded_repr(value)}"
        raise SigningError(msg)


@attrs.frozen
class SignedApproval:
    """A principal's signed consent to one transition of one scope during one phase visit.

    `signature` is the principal's Ed25519 signature of `message()`: every other field, as
    `canonical_bytes`. Build one with `sign_approval`; carry it as `to_dict` / `from_dict`.

    Raises:
        SigningError: a field has the wrong type (texts are exactly strs, at most 4096
            characters; `visit` an int from 0 to 2**63-1 or a str; `at` a finite number of
            seconds; `signature` bytes).
    """

    principal: str = attrs.field(validator=_str)
    scope: str = attrs.field(validator=_str)
    trigger: str = attrs.field(validator=_str)
    source: str = attrs.field(validator=_str)
    dest: str = attrs.field(validator=_str)
    visit: int | str = attrs.field(converter=_visit)
    at: float = attrs.field(converter=_at)
    policy: str = attrs.field(validator=_str)
    signature: bytes = attrs.field(validator=_bytes, repr=lambda s: f"<{len(s)} bytes>")

    def fields(self) -> dict[str, object]:
        """The signed fields (all but the signature)."""
        return {"principal": self.principal, "scope": self.scope, "trigger": self.trigger,
                "source": self.source, "dest": self.dest, "visit": self.visit, "at": self.at,
                "policy": self.policy}

    def message(self) -> bytes:
        """The bytes the signature covers (`canonical_bytes` of `fields()`).

        Raises:
            SigningError: a field cannot be encoded (see `canonical_bytes`).
        """
        return canonical_bytes(self.fields())

    def to_dict(self) -> dict[str, object]:
        """The approval as plain JSON values (the signature in base64), for a record."""
        return {**self.fields(), "signature": base64.b64encode(self.signature).decode("ascii")}

    @classmethod
    def from_dict(cls, data: Mapping[str, object]) -> SignedApproval:
        """The approval written by `to_dict`.

        Raises:
            SigningError: a key is missing or unknown, a value has the wrong type, or the
                signature is not base64.
        """
        expected = {"principal", *_EDGE, "at", "signature"}
        if not isinstance(data, Mapping) or set(data) != expected:
            keys = sorted(map(str, data)) if isinstance(data, Mapping) else type(data).__name__
            msg = f"approval: expected the keys {sorted(expected)}, got {bounded_repr(keys)}"
            raise SigningError(msg)
        signature = data["signature"]
        if not isinstance(signature, str):
            msg = f"approval: signature must be base64 text, got {bounded_repr(signature)}"
            raise SigningError(msg)
        try:
            raw = base64.b64decode(signature, validate=True)
            values = {key: data[key] for key in expected - {"signature"}}
            return cls(signature=raw, **values)  # type: ignore[arg-type]  # validated by attrs
        except (TypeError, ValueError, binascii.Error) as error:
            msg = f"approval: {error}"
            raise SigningError(msg) from None


def sign_approval(signer: Signer, *, scope: str, trigger: str, source: str, dest: str,
                  visit: int | str, policy_fingerprint: str, at: float) -> SignedApproval:
    """`signer`'s approval of `trigger` (`source` -> `dest`) on `scope` during phase visit `visit`.

    Args:
        signer: signs as its principal (whose id is stored canonical).
        scope: the scope of the transition approved.
        trigger: its trigger.
        source: the phase it leaves.
        dest: the phase it enters.
        visit: the version at which `scope` entered its current phase (one visit of a phase).
        policy_fingerprint: `policy_fingerprint` of the policy in force.
        at: when, in seconds (the signer's clock: informative, not trusted for dwell).

    Raises:
        IdentityError: the signer's id is refused.
        SigningError: `signer` is no `Signer`, a field is refused or cannot be encoded, or the
            signer failed or returned no 64-byte signature.
    """
    principal_id: object = None
    try:
        if isinstance(signer, Signer):
            principal_id = signer.principal_id
    except Exception:  # a hostile object: not a signer either
        principal_id = None
    if principal_id is None:
        msg = f"signer must be a Signer (principal_id and sign(message)), got {bounded_repr(signer)}"
        raise SigningError(msg)
    principal = canonical_id(principal_id, field="principal_id")
    unsigned = SignedApproval(principal, scope, trigger, source, dest, visit, at, policy_fingerprint,
                              b"")
    message = unsigned.message()
    try:
        signature = signer.sign(message)
    except SigningError:
        raise
    except Exception as error:  # an HSM or a KMS that failed: say which signer, keep the cause
        msg = f"the signer of {principal!r} failed: {bounded_repr(error)}"
        raise SigningError(msg) from error
    if not isinstance(signature, bytes) or len(signature) != SIGNATURE_BYTES:
        msg = f"the signer of {principal!r} returned {bounded_repr(signature)}, not a 64-byte signature"
        raise SigningError(msg)
    return attrs.evolve(unsigned, signature=signature)


@attrs.frozen
class Rejection:
    """An approval that did not count: its position, its principal as written, and why.

    `fields` names the fields that differ from the transition verified (for OTHER_TRANSITION).
    """

    index: int
    principal: str
    code: TrustCode
    fields: tuple[str, ...] = ()

    def __str__(self) -> str:
        extra = f" fields={','.join(self.fields)}" if self.fields else ""
        return f"{self.code.value}: index={self.index} principal={bounded_repr(self.principal)}{extra}"


@attrs.frozen
class VerifyResult:
    """What `verify_approvals` found: enough distinct approvers or not, who, and what did not count.

    `approvers` holds the canonical ids (as the directory has them) of the distinct principals
    counted, in the order their first valid approval came; `ok` is ``len(approvers) >= needed``.
    """

    ok: bool
    approvers: tuple[str, ...]
    needed: int
    rejected: tuple[Rejection, ...]


def signed_by(directory: Directory, principal_id: str, message: bytes,
              signature: bytes) -> Principal | None:
    """The directory's principal named `principal_id` if `signature` is its signature of `message`.

    For the firer's signature over a record. Never raises on bad input: a refused or unknown id,
    a principal without a key, or a signature that does not verify gives None.
    """
    try:
        principal = directory.principal(principal_id)
        if principal is None or principal.skeleton != skeleton(principal_id):
            return None
    except IdentityError:
        return None
    key = principal.public_key
    return principal if key is not None and verify(key, message, signature) else None


def verify_approvals(directory: Directory, approvals: Iterable[object], *, scope: str, trigger: str,
                     source: str, dest: str, visit: int | str, policy_fingerprint: str, needed: int,
                     roles: frozenset[str], firer: str) -> VerifyResult:
    """Count the distinct principals whose approvals of exactly this transition are valid.

    An approval counts when its fields are exactly these (scope, trigger, source, dest, visit,
    policy fingerprint), its principal is in `directory` (by skeleton) with a public key, its
    signature verifies with that key, the directory gives that principal one of `roles` (any
    role when `roles` is empty: being in the directory is then enough), it is not `firer`'s
    (two-person rule), and its principal was not counted already (in any spelling). Roles an
    approval or a caller might claim play no part: only the directory's.

    Args:
        directory: who the principals are (roles, public keys).
        approvals: the approvals carried by the record (anything: what is not a
            `SignedApproval` is rejected, not raised).
        needed: how many distinct approvers the policy requires.
        roles: the roles any of which an approver must hold.
        firer: the id of who fires the transition; their own approval never counts.

    Returns:
        A `VerifyResult`: ``ok``, the approvers counted, and each rejected entry with its code.

    Raises:
        ConfigurationError: `needed` is not a non-negative int, `roles` not a set of strs,
            `directory` no `Directory`, `approvals` not iterable, or a field of the transition
            not a str (`visit`: an int or a str).
        IdentityError: `firer` is refused (see `canonical_id`).
    """
    if type(needed) is not int or needed < 0:
        msg = f"needed must be a non-negative int, got {bounded_repr(needed)}"
        raise ConfigurationError(msg)
    if not isinstance(roles, frozenset | set) or not all(type(r) is str for r in roles):
        msg = f"roles must be a frozenset of role names, got {bounded_repr(roles)}"
        raise ConfigurationError(msg)
    expected: dict[str, object] = {"scope": scope, "trigger": trigger, "source": source, "dest": dest,
                                   "visit": visit, "policy": policy_fingerprint}
    for name, value in expected.items():
        if not (type(value) is str or (name == "visit" and type(value) is int)):
            kind = "an int or a str" if name == "visit" else "a str"
            field = "policy_fingerprint" if name == "policy" else name
            msg = f"{field} must be {kind}, got {bounded_repr(value)}"
            raise ConfigurationError(msg)
    try:
        is_directory = isinstance(directory, Directory)
    except Exception:  # a hostile object is no directory either
        is_directory = False
    if not is_directory:
        msg = (f"directory must be a Directory (principal() and principals()), got "
               f"{bounded_repr(directory)}")
        raise ConfigurationError(msg)
    try:
        entries = list(approvals) if not isinstance(approvals, str | bytes) else None
    except Exception:  # not iterable, or its iterator raises
        entries = None
    if entries is None:
        msg = f"approvals must be an iterable, got {bounded_repr(approvals)}"
        raise ConfigurationError(msg)
    firer_key = skeleton(firer, field="firer")
    counted: dict[str, str] = {}
    rejected: list[Rejection] = []
    for index, approval in enumerate(entries):
        if not isinstance(approval, SignedApproval):
            rejected.append(Rejection(index, bounded_repr(approval), TrustCode.NOT_AN_APPROVAL))
            continue
        code, differ, principal = _check_one(directory, approval, expected, roles)
        if principal is not None and principal.skeleton == firer_key:
            code = TrustCode.SELF_APPROVAL
        elif principal is not None and principal.skeleton in counted:
            code = TrustCode.DUPLICATE_APPROVER
        if code is not None or principal is None:
            rejected.append(Rejection(index, approval.principal,
                                      code or TrustCode.UNKNOWN_PRINCIPAL, differ))
            continue
        counted[principal.skeleton] = principal.id
    approvers = tuple(counted.values())
    return VerifyResult(len(approvers) >= needed, approvers, needed, tuple(rejected))


def _check_one(directory: Directory, approval: SignedApproval, expected: Mapping[str, object],
               roles: frozenset[str]) -> tuple[TrustCode | None, tuple[str, ...], Principal | None]:
    """(why it does not count or None, the fields that differ, the principal it resolves to)."""
    try:
        key = skeleton(approval.principal, field="approver")
    except IdentityError:
        return TrustCode.INVALID_PRINCIPAL, (), None
    signed = approval.fields()
    differ = tuple(name for name in _EDGE
                   if type(signed[name]) is not type(expected[name]) or signed[name] != expected[name])
    if differ:
        return TrustCode.OTHER_TRANSITION, differ, None
    try:
        principal = directory.principal(approval.principal)
    except IdentityError:
        return TrustCode.INVALID_PRINCIPAL, (), None
    if principal is None or principal.skeleton != key:  # a directory answering for someone else
        return TrustCode.UNKNOWN_PRINCIPAL, (), None
    if principal.public_key is None:
        return TrustCode.NO_PUBLIC_KEY, (), None
    try:
        message = approval.message()
    except SigningError:
        return TrustCode.BAD_SIGNATURE, (), None
    if not verify(principal.public_key, message, approval.signature):
        return TrustCode.BAD_SIGNATURE, (), None
    if roles and not principal.roles & roles:
        return TrustCode.ROLE_MISSING, (), None
    return None, (), principal
