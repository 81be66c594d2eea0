"""Trust: canonical ids, the directory of principals, signatures and signed approvals (issue #11).

Keys are generated at test time; none is committed.
"""

from __future__ import annotations

import base64
import os
import pathlib
import unicodedata

import attrs
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from hypothesis import given
from hypothesis import strategies as st

from exchange_recovery import ConfigurationError, ExchangeRecoveryError, default_policy, restart_policy
from exchange_recovery._trust.approvals import (
    SignedApproval,
    VerifyResult,
    canonical_bytes,
    policy_fingerprint,
    sign_approval,
    signed_by,
    verify_approvals,
)
from exchange_recovery._trust.codes import TrustCode
from exchange_recovery._trust.directory import Directory, FileDirectory, Principal, StaticDirectory
from exchange_recovery._trust.errors import DirectoryError, IdentityError, SigningError
from exchange_recovery._trust.ids import MAX_ID_LENGTH, canonical_id, same_principal, skeleton
from exchange_recovery._trust.signing import KeyFileSigner, Signer, generate_keypair, verify

CYRILLIC_A = "\N{CYRILLIC SMALL LETTER A}"
FULLWIDTH = "".join(chr(ord(c) + 0xFEE0) for c in "ops:alice")

SIX_SPELLINGS = {
    # the six spellings of issue #11, each either refused or the same principal as "ops:alice"
    "edge whitespace": ("ops:Alice ", "refused"),
    "a Cyrillic a": (f"ops:{CYRILLIC_A}lice", "alice"),
    "a zero-width space": ("ops:al\u200bice", "refused"),
    "fullwidth letters": (FULLWIDTH, "alice"),
    "a trailing NUL": ("ops:alice\x00", "refused"),
    "a trailing newline": ("ops:alice\n", "refused"),
}


@attrs.frozen
class Keys:
    """One generated key pair: the private key as PEM, the raw public key."""

    private: bytes
    public: bytes


@pytest.fixture(scope="module")
def keys() -> dict[str, Keys]:
    return {name: Keys(*generate_keypair()) for name in ("alice", "bob", "carol", "mallory")}


@pytest.fixture(scope="module")
def directory(keys: dict[str, Keys]) -> StaticDirectory:
    return StaticDirectory([
        Principal("ops:alice", "Alice", {"operator"}, keys["alice"].public),
        Principal("ops:bob", "Bob", {"supervisor"}, keys["bob"].public),
        Principal("ops:carol", "Carol", {"supervisor", "operator"}, keys["carol"].public),
    ])


def signer(keys: dict[str, Keys], name: str, principal_id: str | None = None) -> KeyFileSigner:
    return KeyFileSigner.from_bytes(principal_id or f"ops:{name}", keys[name].private)


EDGE: dict[str, object] = {"scope": "venue", "trigger": "open", "source": "PRE_OPEN",
                           "dest": "FULL_OPEN", "visit": 7, "policy_fingerprint": "f" * 64}


def approve(sign: Signer, **changes: object) -> SignedApproval:
    return sign_approval(sign, at=1_700_000_000.0, **{**EDGE, **changes})  # type: ignore[arg-type]


def check(directory: Directory, approvals: list[object], *, firer: str = "ops:alice",
          needed: int = 1, roles: frozenset[str] = frozenset({"supervisor"})) -> VerifyResult:
    return verify_approvals(directory, approvals, needed=needed, roles=roles, firer=firer,
                            **EDGE)  # type: ignore[arg-type]


# -- canonical ids ---------------------------------------------------------------------------------

@pytest.mark.parametrize("case", SIX_SPELLINGS, ids=list(SIX_SPELLINGS))
def test_each_of_the_six_spellings_is_alice_or_refused(case: str, directory: StaticDirectory) -> None:
    """Every spelling of issue #11 is refused, or found as the one principal ops:alice."""
    spelling, expected = SIX_SPELLINGS[case]
    if expected == "refused":
        with pytest.raises(IdentityError):
            canonical_id(spelling)
        with pytest.raises(IdentityError):
            directory.principal(spelling)
    else:
        assert skeleton(spelling) == skeleton("ops:alice")
        found = directory.principal(spelling)
        assert found is not None
        assert found.id == "ops:alice"


def test_edge_whitespace_is_refused_and_says_so() -> None:
    """A trailing space or newline is refused as edge whitespace, not silently stripped."""
    for spelling in ("ops:Alice ", "ops:alice\n", " ops:alice"):
        with pytest.raises(IdentityError, match="leading or trailing whitespace"):
            canonical_id(spelling)


def test_a_zero_width_space_is_refused_with_its_name() -> None:
    """The refusal names the format character and where it is."""
    with pytest.raises(IdentityError) as refused:
        canonical_id("ops:al\u200bice", field="approver")
    assert refused.value.field == "approver"
    assert "ZERO WIDTH SPACE" in refused.value.problem
    assert "index 6" in refused.value.problem


@pytest.mark.parametrize("char", ["\x00", "\x1b", "\u202e", "\u2066", "\u00ad", "\u200d", "\ud800",
                                  "\ue000", "\u2028", "\u00a0", " ", "\t"],
                         ids=["NUL", "ESC", "RLO", "LRI", "soft-hyphen", "ZWJ", "surrogate",
                              "private-use", "line-separator", "NBSP", "space", "tab"])
def test_control_format_and_whitespace_characters_inside_an_id_are_refused(char: str) -> None:
    """Controls, format/bidi characters, surrogates, private use and whitespace are refused."""
    with pytest.raises(IdentityError):
        canonical_id(f"ops:al{char}ice")


def test_case_and_compatibility_forms_are_one_id() -> None:
    """NFKC and casefold: case and fullwidth forms give one canonical id."""
    assert canonical_id("OPS:Alice") == canonical_id(FULLWIDTH) == "ops:alice"
    assert canonical_id("ops:stra\N{LATIN SMALL LETTER SHARP S}e") == "ops:strasse"


def test_an_id_must_be_a_non_empty_bounded_str() -> None:
    """Empty, too long (also after NFKC lengthens it) and non-str ids are refused."""
    assert canonical_id("x" * MAX_ID_LENGTH) == "x" * MAX_ID_LENGTH
    for bad in ("", "x" * (MAX_ID_LENGTH + 1), "\ufdfa" * 10, b"ops:alice", None, 7):
        with pytest.raises(IdentityError):
            canonical_id(bad)  # type: ignore[arg-type]


def test_a_refusal_shows_a_bounded_value() -> None:
    """A hostile, long value is cut in the message (and escaped by repr)."""
    with pytest.raises(IdentityError) as refused:
        canonical_id("\x1b[8m" + "x" * 10_000)
    assert len(str(refused.value)) < 300
    assert "\x1b" not in str(refused.value)
    assert isinstance(refused.value, ValueError)
    assert isinstance(refused.value, ExchangeRecoveryError)


def test_the_skeleton_folds_look_alikes_and_keeps_different_names_apart() -> None:
    """Greek and Cyrillic look-alikes, 0/o, 1/l, marks and rn/m fold; other names stay apart."""
    assert same_principal("ops:b\N{GREEK SMALL LETTER OMICRON}b", "ops:bob")
    assert same_principal("ops:bob0", "ops:bobo")
    assert same_principal("ops:a1ice", "ops:alice")
    assert same_principal("ops:ale\u0301x", "ops:alex")
    assert same_principal("ops:rnary", "ops:mary")
    assert same_principal("ops:\N{GREEK CAPITAL LETTER NU}INA", "ops:vina")  # stored as a small nu
    assert not same_principal("ops:alice", "ops:alicia")
    assert not same_principal("ops:bob", "ops:rob")


@given(st.text(st.characters(exclude_categories=()), max_size=40))
def test_canonical_id_is_refused_or_clean_and_idempotent(text: str) -> None:
    """For any text: IdentityError, or a clean str that canonicalizes to itself."""
    try:
        canonical = canonical_id(text)
    except IdentityError:
        return
    assert isinstance(canonical, str)
    assert 0 < len(canonical) <= MAX_ID_LENGTH
    assert not any(unicodedata.category(c) in ("Cc", "Cf", "Cs", "Zs") or c.isspace()
                   for c in canonical)
    assert canonical_id(canonical) == canonical
    assert skeleton(canonical) == skeleton(text)


# -- the directory ---------------------------------------------------------------------------------

def test_a_directory_refuses_two_ids_that_look_alike(keys: dict[str, Keys]) -> None:
    """Two principals with one skeleton are one person twice, or an impersonation risk."""
    with pytest.raises(DirectoryError, match="looks like"):
        StaticDirectory([Principal("ops:alice", "Alice", {"operator"}, keys["alice"].public),
                         Principal(f"ops:{CYRILLIC_A}lice", "Not Alice", {"supervisor"},
                                   keys["mallory"].public)])


def test_a_principal_refuses_bad_fields() -> None:
    """A bad id, display name, role or public key is refused, naming the field."""
    for args, field in [(("ops:al ice", "A"), "id"), (("ops:a", "A\n"), "display_name"),
                        (("ops:a", "A", {"super visor"}), "role"), (("ops:a", "A", "role"), "roles"),
                        (("ops:a", "A", (), b"short"), "public_key")]:
        with pytest.raises(IdentityError) as refused:
            Principal(*args)  # type: ignore[arg-type]
        assert refused.value.field == field


def _directory_file(keys: dict[str, Keys]) -> str:
    return f"""
# reviewed by ops leads
[[principals]]
id = "ops:alice"
name = "Alice Example"
roles = ["operator"]
public_key = "{keys["alice"].public.hex()}"

[[principals]]
id = "ops:bob"
name = "Bob Example"
roles = ["supervisor"]
public_key = "{base64.b64encode(keys["bob"].public).decode()}"

[[principals]]
id = "bot:latency"
name = "Latency breaker"
roles = ["automation"]
"""


def test_a_directory_file_is_read_with_hex_and_base64_keys(keys: dict[str, Keys],
                                                           tmp_path: pathlib.Path) -> None:
    """A reviewed file gives principals, their roles and their keys; a key may be absent."""
    path = tmp_path / "principals.toml"
    path.write_text(_directory_file(keys), encoding="utf-8")
    directory = FileDirectory.load(path)
    assert isinstance(directory, Directory)
    assert [p.id for p in directory.principals()] == ["ops:alice", "ops:bob", "bot:latency"]
    bob = directory.principal("OPS:Bob")
    assert bob is not None
    assert bob.roles == {"supervisor"}
    assert bob.public_key == keys["bob"].public
    bot = directory.principal("bot:latency")
    assert bot is not None
    assert bot.public_key is None


def test_a_directory_file_reports_every_problem_with_its_line() -> None:
    """Unknown keys, non-canonical ids, bad keys, missing keys and look-alikes: all at once."""
    text = """[[principals]]
id = "ops:Alice"
name = "Alice"
roles = ["operator"]
rolez = ["supervisor"]

[[principals]]
id = "ops:bob"
roles = ["supervisor"]
public_key = "not a key"

[[principals]]
id = "ops:carol"
name = "Carol"
roles = ["supervisor"]

[[principals]]
id = "ops:car0l"
name = "Not Carol"
roles = ["supervisor"]
"""
    with pytest.raises(DirectoryError) as refused:
        FileDirectory.loads(text, source="principals.toml")
    found = {(p.where, p.line) for p in refused.value.problems}
    assert found == {("principals[0].id", 2), ("principals[0].rolez", 5), ("principals[1].name", 7),
                     ("principals[1].public_key", 10), ("principals[3].id", 17)}
    message = str(refused.value)
    assert "write 'ops:alice'" in message
    assert "did you mean 'roles'?" in message
    assert "principals.toml:17: principals[3].id" in message


def test_a_directory_file_refuses_bad_toml_and_unknown_tables() -> None:
    """Invalid TOML names its line; top-level keys other than principals are problems."""
    with pytest.raises(DirectoryError) as refused:
        FileDirectory.loads("[[principals]]\nid = \n")
    assert refused.value.problems[0].line == 2
    with pytest.raises(DirectoryError, match="unknown key"):
        FileDirectory.loads("admins = ['mallory']\nprincipals = []\n")
    with pytest.raises(DirectoryError, match="missing"):
        FileDirectory.loads("")


@pytest.mark.skipif(os.name != "posix", reason="file modes are POSIX")
def test_a_directory_file_anyone_may_write_is_refused(keys: dict[str, Keys], tmp_path: pathlib.Path) -> None:
    """A directory file writable by others could be edited by anyone: refused unread."""
    path = tmp_path / "principals.toml"
    path.write_text(_directory_file(keys), encoding="utf-8")
    path.chmod(0o666)
    with pytest.raises(DirectoryError, match="anyone may write it"):
        FileDirectory.load(path)
    with pytest.raises(DirectoryError, match="cannot read it"):
        FileDirectory.load(tmp_path / "missing.toml")


def test_an_identity_provider_plugs_in_as_a_directory(keys: dict[str, Keys]) -> None:
    """Any object with principal() and principals() is a directory; a wrong answer is not believed."""

    class Provider:
        """Answers every lookup with Bob: a broken (or hostile) identity provider."""

        def principal(self, principal_id: str) -> Principal | None:
            return Principal("ops:bob", "Bob", {"supervisor"}, keys["bob"].public)

        def principals(self) -> tuple[Principal, ...]:
            return ()

    provider = Provider()
    assert isinstance(provider, Directory)
    as_bob = approve(signer(keys, "bob", "ops:dave"))  # Bob's key, signing as someone else
    result = check(provider, [as_bob])
    assert not result.ok
    assert result.rejected[0].code is TrustCode.UNKNOWN_PRINCIPAL


# -- signing ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("form", ["pem", "raw"])
def test_a_key_file_signer_loads_pem_and_raw_keys(form: str, keys: dict[str, Keys],
                                                  tmp_path: pathlib.Path) -> None:
    """A PKCS #8 PEM or raw 32-byte private key file signs what its public key verifies."""
    key = serialization.load_pem_private_key(keys["alice"].private, password=None)
    data = keys["alice"].private if form == "pem" else key.private_bytes(  # type: ignore[call-arg]
        serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption())
    path = tmp_path / "alice.key"
    path.write_bytes(data)
    path.chmod(0o600)
    loaded = KeyFileSigner.load("ops:alice", path)
    assert isinstance(loaded, Signer)
    assert loaded.public_key == keys["alice"].public
    assert verify(keys["alice"].public, b"m", loaded.sign(b"m"))
    assert keys["alice"].private.decode() not in repr(loaded)


@pytest.mark.skipif(os.name != "posix", reason="file modes are POSIX")
def test_a_key_file_open_to_others_is_refused(keys: dict[str, Keys], tmp_path: pathlib.Path) -> None:
    """Like ssh, a private key readable by group or others is refused unless told otherwise."""
    path = tmp_path / "alice.key"
    path.write_bytes(keys["alice"].private)
    path.chmod(0o644)
    with pytest.raises(SigningError, match="chmod 600"):
        KeyFileSigner.load("ops:alice", path)
    assert KeyFileSigner.load("ops:alice", path, check_permissions=False).public_key == keys["alice"].public


def test_a_key_file_without_an_ed25519_key_is_refused(tmp_path: pathlib.Path) -> None:
    """Another algorithm, an encrypted PEM, junk or a missing file: SigningError, each said."""
    ec_key = ec.generate_private_key(ec.SECP256R1())
    pem = ec_key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                               serialization.NoEncryption())
    encrypted = ec_key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                     serialization.BestAvailableEncryption(b"pw"))
    for data, says in [(pem, "expected an Ed25519"), (encrypted, "cannot load"), (b"junk", "raw 32")]:
        with pytest.raises(SigningError, match=says):
            KeyFileSigner.from_bytes("ops:alice", data)
    with pytest.raises(SigningError, match="cannot read"):
        KeyFileSigner.load("ops:alice", tmp_path / "missing.key")


def test_verify_returns_false_on_bad_input_and_never_raises(keys: dict[str, Keys]) -> None:
    """Wrong types, wrong lengths, junk keys and wrong signatures are simply not valid."""
    good = signer(keys, "alice").sign(b"m")
    public = keys["alice"].public
    assert verify(public, b"m", good)
    for args in [(public, b"n", good), (keys["bob"].public, b"m", good), (public, b"m", good[:-1]),
                 (public, b"m", b"\x00" * 64), (b"\xff" * 32, b"m", good), (public[:31], b"m", good),
                 ("key", b"m", good), (public, "m", good), (public, b"m", None), (None, None, None)]:
        assert verify(*args) is False  # type: ignore[arg-type]


# -- signed approvals ------------------------------------------------------------------------------

def test_a_supervisors_signed_approval_counts(directory: StaticDirectory, keys: dict[str, Keys]) -> None:
    """A directory supervisor's valid approval of exactly this transition counts."""
    result = check(directory, [approve(signer(keys, "bob"))])
    assert result.ok
    assert result.approvers == ("ops:bob",)
    assert result.rejected == ()


def test_a_self_asserted_role_grants_nothing(directory: StaticDirectory, keys: dict[str, Keys]) -> None:
    """Roles come from the directory only: an unknown id or a role-less principal does not count."""
    # Arrange: mallory (not in the directory) and alice (an operator) both sign validly
    outsider = approve(signer(keys, "mallory"))
    operator = approve(signer(keys, "alice"))
    # Act
    result = check(directory, [outsider, operator], firer="ops:carol")
    # Assert
    assert not result.ok
    assert result.approvers == ()
    assert [r.code for r in result.rejected] == [TrustCode.UNKNOWN_PRINCIPAL, TrustCode.ROLE_MISSING]


def test_a_principal_without_a_key_cannot_approve(keys: dict[str, Keys]) -> None:
    """A directory entry without a public key can sign nothing, so it approves nothing."""
    keyless = StaticDirectory([Principal("ops:bob", "Bob", {"supervisor"})])
    result = check(keyless, [approve(signer(keys, "bob"))])
    assert not result.ok
    assert result.rejected[0].code is TrustCode.NO_PUBLIC_KEY


def test_another_key_signing_as_a_supervisor_fails(directory: StaticDirectory,
                                                   keys: dict[str, Keys]) -> None:
    """Mallory's key signing as ops:bob does not verify with Bob's key."""
    result = check(directory, [approve(signer(keys, "mallory", "ops:bob"))])
    assert not result.ok
    assert result.rejected[0].code is TrustCode.BAD_SIGNATURE


@pytest.mark.parametrize(("field", "other"), [("scope", "BTC-USDT-SWAP"), ("trigger", "normalize"),
                                              ("source", "HALTED"), ("dest", "NORMAL"), ("visit", 6),
                                              ("visit", "7"), ("policy_fingerprint", "0" * 64)])
def test_a_signature_over_other_fields_fails(field: str, other: object, directory: StaticDirectory,
                                             keys: dict[str, Keys]) -> None:
    """An approval of another transition, visit or policy does not count, nor does relabelling it."""
    elsewhere = approve(signer(keys, "bob"), **{field: other})
    relabelled = attrs.evolve(elsewhere, **{"policy" if field == "policy_fingerprint" else field:
                                            EDGE[field]})
    result = check(directory, [elsewhere, relabelled])
    assert not result.ok
    assert [r.code for r in result.rejected] == [TrustCode.OTHER_TRANSITION, TrustCode.BAD_SIGNATURE]
    assert result.rejected[0].fields == ("policy" if field == "policy_fingerprint" else field,)


def test_the_same_person_approving_twice_under_two_spellings_counts_once(
        directory: StaticDirectory, keys: dict[str, Keys]) -> None:
    """Approvals are counted per principal (skeleton), not per spelling."""
    bob = approve(signer(keys, "bob"))
    bob_again = approve(signer(keys, "bob", "OPS:B\N{CYRILLIC CAPITAL LETTER O}B"))
    assert bob_again.principal != bob.principal
    result = check(directory, [bob, bob_again], needed=2)
    assert not result.ok
    assert result.approvers == ("ops:bob",)
    assert [r.code for r in result.rejected] == [TrustCode.DUPLICATE_APPROVER]
    assert check(directory, [bob, approve(signer(keys, "carol"))], needed=2).ok


def test_the_firers_own_approval_does_not_count(directory: StaticDirectory,
                                                keys: dict[str, Keys]) -> None:
    """Two-person rule: the firer's approval never counts, in any spelling."""
    result = check(directory, [approve(signer(keys, "bob"))],
                   firer="ops:B\N{GREEK SMALL LETTER OMICRON}b")
    assert not result.ok
    assert result.rejected[0].code is TrustCode.SELF_APPROVAL


def test_what_is_not_an_approval_is_rejected_as_data(directory: StaticDirectory,
                                                     keys: dict[str, Keys]) -> None:
    """Junk entries and refused spellings are rejections, not exceptions."""
    valid = approve(signer(keys, "bob"))
    bad_id = attrs.evolve(valid, principal="ops:bob\n")
    result = check(directory, ["ops:bob", None, bad_id, valid])
    assert result.ok
    assert result.approvers == ("ops:bob",)
    assert [r.code for r in result.rejected] == [TrustCode.NOT_AN_APPROVAL, TrustCode.NOT_AN_APPROVAL,
                                                 TrustCode.INVALID_PRINCIPAL]
    assert str(result.rejected[2]) == r"INVALID_PRINCIPAL: index=2 principal='ops:bob\n'"


def test_verify_approvals_refuses_misuse(directory: StaticDirectory) -> None:
    """A bad `needed`, `roles` or firer is a programming error: an exception, not a refusal."""
    with pytest.raises(ConfigurationError):
        check(directory, [], needed=-1)
    with pytest.raises(ConfigurationError):
        check(directory, [], roles="supervisor")  # type: ignore[arg-type]
    with pytest.raises(IdentityError):
        check(directory, [], firer="ops:alice\x00")


def test_no_approval_is_needed_when_the_policy_needs_none(directory: StaticDirectory) -> None:
    """needed=0 is satisfied by no approvals."""
    assert check(directory, [], needed=0).ok


def test_an_approval_round_trips_through_plain_values(directory: StaticDirectory,
                                                      keys: dict[str, Keys]) -> None:
    """to_dict/from_dict carry an approval in a record; junk is SigningError."""
    approval = approve(signer(keys, "bob"))
    again = SignedApproval.from_dict(approval.to_dict())
    assert again == approval
    assert check(directory, [again]).ok
    for junk in [{}, {**approval.to_dict(), "roles": ["supervisor"]},
                 {**approval.to_dict(), "signature": "%%%"}, {**approval.to_dict(), "visit": 1.5},
                 {**approval.to_dict(), "signature": 5}, "approval"]:
        with pytest.raises(SigningError):
            SignedApproval.from_dict(junk)  # type: ignore[arg-type]


def test_signed_by_names_the_principal_whose_signature_verifies(directory: StaticDirectory,
                                                               keys: dict[str, Keys]) -> None:
    """The firer's signature over a record resolves to the directory principal, else None."""
    message = canonical_bytes({"trigger": "open"}, domain="record")
    signature = signer(keys, "alice").sign(message)
    found = signed_by(directory, "OPS:ALICE", message, signature)
    assert found is not None
    assert found.id == "ops:alice"
    assert signed_by(directory, "ops:bob", message, signature) is None
    assert signed_by(directory, "ops:alice\n", message, signature) is None
    assert signed_by(directory, "ops:mallory", message, signature) is None


def test_canonical_bytes_are_sorted_compact_and_domain_separated() -> None:
    """One byte string per set of fields, prefixed by its domain; non-JSON values are refused."""
    assert canonical_bytes({"b": 1, "a": "\u00e9"}) == canonical_bytes({"a": "\u00e9", "b": 1})
    assert canonical_bytes({"a": 1}) == b'exchange_recovery/approval/v1\n{"a":1}'
    assert canonical_bytes({"a": 1}, domain="record") != canonical_bytes({"a": 1})
    for bad in [{"at": float("nan")}, {1: "a"}, {"a": b"bytes"}, {"a": "\udcff"}, {"a": {2: 1}}]:
        with pytest.raises(SigningError):
            canonical_bytes(bad)  # type: ignore[arg-type]
    with pytest.raises(SigningError):
        canonical_bytes({"a": 1}, domain="Approval/v2")


def test_the_policy_fingerprint_is_stable_and_tells_policies_apart() -> None:
    """The same policy has one fingerprint; another policy has another."""
    assert policy_fingerprint(default_policy()) == policy_fingerprint(default_policy())
    assert policy_fingerprint(default_policy()) != policy_fingerprint(restart_policy())
    with pytest.raises(ConfigurationError):
        policy_fingerprint("default")  # type: ignore[arg-type]


def test_a_signer_returning_junk_is_refused() -> None:
    """sign_approval refuses a signer (an HSM, a KMS) that returns no 64-byte signature."""

    @attrs.frozen
    class Broken:
        """A signer whose device answers with an error string."""

        principal_id: str = "ops:bob"

        def sign(self, message: bytes) -> bytes:
            return b"error"

    with pytest.raises(SigningError, match="not a 64-byte signature"):
        approve(Broken())

