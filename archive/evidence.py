"""Evidence records (RFC 4998): archive timestamps that keep an AIP version provable for decades.

A version's signature carries one timestamp (CAdES-T). That proves the signature existed at
``genTime`` only while the TSA's certificate and hash algorithm are trusted. Before the
certificate expires, or when an algorithm is retired, the renewal job (``flows.renew_timestamps``)
extends the version's *evidence record*, an RFC 4998 ``EvidenceRecord`` (DER), kept in later
versions at ``data/evidence/v0001.ers`` (one per version it protects):

- the first archive timestamp covers the version's two evidence files, ``tagmanifest-sha256.txt``
  and ``tagmanifest-sha256.txt.p7s`` (whose signature timestamp token it thereby seals), as one
  group of a reduced hash tree: ``H(sorted(H(tagmanifest) || H(p7s)))``;
- *timestamp renewal* (§5.2) adds an archive timestamp over the previous one's ``timeStamp``;
- *hash-tree renewal* (§5.3, an algorithm retired) starts a new chain with a stronger hash over
  the data again and the whole sequence so far.

Verification (``verify_evidence``) walks the chains in order: each timestamp must match what it
covers and its TSA must be trusted at the time of the next timestamp (the last: now, or the time
asked for), and the version's own signature and signature timestamp must be valid at the first
archive timestamp's time. That is how validity can be shown in 2086 with certificates long expired.
"""

from __future__ import annotations

import datetime as dt
import hashlib

from asn1crypto import algos, cms, core
from cryptography import x509
from pydantic import BaseModel, ConfigDict

from archive.trusted_time import TimestampAuthority, TimestampCheck, check_signature_timestamp, check_token, token_info

EVIDENCE_DIR = "data/evidence"
STRONGER = ("sha512", "sha384", "sha3_512", "sha256")  # new chains use the first one not retired


class PartialHashtree(core.SequenceOf):
    _child_spec = core.OctetString


class ReducedHashtree(core.SequenceOf):
    _child_spec = PartialHashtree


class ArchiveTimeStamp(core.Sequence):
    _fields = [
        ("digest_algorithm", algos.DigestAlgorithm, {"implicit": 0, "optional": True}),
        ("attributes", cms.CMSAttributes, {"implicit": 1, "optional": True}),
        ("reduced_hashtree", ReducedHashtree, {"implicit": 2, "optional": True}),
        ("time_stamp", cms.ContentInfo),
    ]


class ArchiveTimeStampChain(core.SequenceOf):
    _child_spec = ArchiveTimeStamp


class ArchiveTimeStampSequence(core.SequenceOf):
    _child_spec = ArchiveTimeStampChain


class DigestAlgorithms(core.SequenceOf):
    _child_spec = algos.DigestAlgorithm


class EvidenceRecord(core.Sequence):
    """RFC 4998 §3; the optional cryptoInfos [0] and encryptionInfo [1] are never written here."""

    _fields = [
        ("version", core.Integer),
        ("digest_algorithms", DigestAlgorithms),
        ("archive_time_stamp_sequence", ArchiveTimeStampSequence),
    ]


class EvidenceCheck(BaseModel):
    """The verdict on one version's evidence: valid, until when it is proven, and why not."""

    model_config = ConfigDict(frozen=True)

    valid: bool
    first: dt.datetime | None = None  # the first archive timestamp: the version existed then
    last_tsa_expiry: dt.datetime | None = None  # renew before this
    detail: str = ""


def evidence_path(version: int) -> str:
    return f"{EVIDENCE_DIR}/v{version:04d}.ers"


def _h(algorithm: str, data: bytes) -> bytes:
    return hashlib.new(algorithm, data).digest()


def _group(algorithm: str, leaves: list[bytes]) -> bytes:
    """RFC 4998 §4.2: the hash of a group is the hash of its members' hashes, sorted, concatenated."""
    return _h(algorithm, b"".join(sorted(leaves)))


def _ats(algorithm: str, token: cms.ContentInfo, leaves: list[bytes] | None) -> ArchiveTimeStamp:
    fields = {"digest_algorithm": algos.DigestAlgorithm({"algorithm": algorithm}), "time_stamp": token}
    if leaves is not None:
        fields["reduced_hashtree"] = ReducedHashtree([PartialHashtree(leaves)])
    return ArchiveTimeStamp(fields)


def _algorithm(ats: ArchiveTimeStamp) -> str:
    return ats["digest_algorithm"]["algorithm"].native


def new_record(data_objects: list[bytes], tsa: TimestampAuthority, algorithm: str = "sha256") -> bytes:
    """The first archive timestamp over ``data_objects`` (one group)."""
    leaves = [_h(algorithm, d) for d in data_objects]
    token = tsa.stamp_digest(_group(algorithm, leaves), algorithm)
    chain = ArchiveTimeStampChain([_ats(algorithm, token, leaves)])
    return EvidenceRecord({"version": 1, "digest_algorithms": [algos.DigestAlgorithm({"algorithm": algorithm})],
                           "archive_time_stamp_sequence": ArchiveTimeStampSequence([chain])}).dump()


def renew_timestamp(record: bytes, tsa: TimestampAuthority) -> bytes:
    """§5.2: one more archive timestamp in the last chain, over the previous one's timeStamp."""
    loaded = EvidenceRecord.load(record)
    chains = list(loaded["archive_time_stamp_sequence"])
    last = chains[-1][-1]
    algorithm = _algorithm(last)
    token = tsa.stamp_digest(_h(algorithm, last["time_stamp"].dump()), algorithm)
    chains[-1] = ArchiveTimeStampChain([*chains[-1], _ats(algorithm, token, None)])
    return _with_chains(loaded, chains, algorithm)


def renew_hashtree(record: bytes, data_objects: list[bytes], tsa: TimestampAuthority, algorithm: str) -> bytes:
    """§5.3: a new chain with a stronger hash over the data and the whole sequence so far."""
    loaded = EvidenceRecord.load(record)
    sequence = loaded["archive_time_stamp_sequence"]
    leaves = [_h(algorithm, d) for d in data_objects] + [_h(algorithm, sequence.dump())]
    token = tsa.stamp_digest(_group(algorithm, leaves), algorithm)
    chains = [*sequence, ArchiveTimeStampChain([_ats(algorithm, token, leaves)])]
    return _with_chains(loaded, chains, algorithm)


def _with_chains(loaded: EvidenceRecord, chains: list, algorithm: str) -> bytes:
    algorithms = [a["algorithm"].native for a in loaded["digest_algorithms"]]
    names = algorithms + ([algorithm] if algorithm not in algorithms else [])
    return EvidenceRecord({"version": 1, "digest_algorithms": [algos.DigestAlgorithm({"algorithm": n}) for n in names],
                           "archive_time_stamp_sequence": ArchiveTimeStampSequence(chains)}).dump()


def last_timestamp(record: bytes) -> tuple[cms.ContentInfo, str]:
    """The newest archive timestamp of a record and its digest algorithm (what renewal looks at)."""
    last = EvidenceRecord.load(record)["archive_time_stamp_sequence"][-1][-1]
    return last["time_stamp"], _algorithm(last)


def verify_evidence(data_objects: list[bytes], record: bytes, signature: bytes, tsa_roots: list[x509.Certificate],
                    at: dt.datetime | None = None) -> EvidenceCheck:
    """Does ``record`` prove ``data_objects`` (tagmanifest, its signature) existed, and the signature
    was valid, back at its first archive timestamp, checked at ``at`` (now)?"""
    try:
        stamps = _walk(data_objects, EvidenceRecord.load(record))
    except (ValueError, KeyError, TypeError) as exc:
        return EvidenceCheck(valid=False, detail=f"malformed evidence record: {exc}")
    times = [token_info(token)["gen_time"].native for token, _ in stamps] + [at]
    checks: list[TimestampCheck] = []
    for (token, expected), moment in zip(stamps, times[1:], strict=True):
        check = check_token(token, expected, tsa_roots, moment)
        if not check.valid:
            return EvidenceCheck(valid=False, detail=f"archive timestamp of {check.time}: {check.detail}")
        checks.append(check)
    own = check_signature_timestamp(signature, tsa_roots, times[0])
    if own is not None and not own.valid:
        return EvidenceCheck(valid=False, detail=f"signature timestamp at {times[0]}: {own.detail}")
    return EvidenceCheck(valid=True, first=times[0], last_tsa_expiry=checks[-1].tsa_not_after,
                         detail=f"{len(checks)} archive timestamps, first {times[0]:%Y-%m-%dT%H:%M:%SZ}")


def _walk(data_objects: list[bytes], record: EvidenceRecord) -> list[tuple[cms.ContentInfo, object]]:
    """Every archive timestamp in order, with a function giving the digest it must cover."""
    stamps: list[tuple[cms.ContentInfo, object]] = []
    done = ArchiveTimeStampSequence([])
    for chain in record["archive_time_stamp_sequence"]:
        previous = None
        for ats in chain:
            algorithm = _algorithm(ats)
            if previous is None:
                leaves = [bytes(x) for x in ats["reduced_hashtree"][0]]
                needed = [_h(algorithm, d) for d in data_objects] + ([_h(algorithm, done.dump())] if len(done) else [])
                if sorted(needed) != sorted(leaves):
                    raise ValueError(f"a {algorithm} hash tree does not cover this version's files")
                digest = _group(algorithm, leaves)
            else:
                digest = _h(algorithm, previous["time_stamp"].dump())
            stamps.append((ats["time_stamp"], _expect(algorithm, digest)))
            previous = ats
        done = ArchiveTimeStampSequence([*done, chain])
    if not stamps:
        raise ValueError("no archive timestamp")
    return stamps


def _expect(algorithm: str, digest: bytes):
    def imprint(asked: str) -> bytes:
        if asked != algorithm:
            raise ValueError(f"token hashed with {asked}, the record says {algorithm}")
        return digest
    return imprint
