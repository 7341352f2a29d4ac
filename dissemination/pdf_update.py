"""Incremental updates laid out by hand: objects, an optional signature dictionary with a
reserved /Contents, and an xref section of the file's kind (table or stream) with /Prev.

A sealed copy takes up to three of them in a row (``pades``: the signed update; ``pades_lta``:
the DSS, then the document timestamp). ``FileState`` carries what one update leaves for the
next: where the file ends, its last xref section, its /Size, and the catalog and page 1 as the
previous update wrote them (serialised), since each later update rewrites them whole.
"""

from __future__ import annotations

import binascii
import hashlib
import os
import zlib
from dataclasses import dataclass, replace
from decimal import Decimal

import pikepdf
from pikepdf import Name

BYTE_RANGE_WIDTH = 40  # "0 a b c" padded: room for three 10-digit offsets
COMPRESS_OVER = 256  # unfiltered streams of the update larger than this are deflated (stamp, fonts)
COMPRESS_LEVEL = 6


def dict_bytes(entries: dict[str, bytes]) -> bytes:
    """A PDF dictionary from serialised values."""
    return b"<<" + b"".join(Name(k).unparse() + b" " + v + b" " for k, v in entries.items()) + b">>"


def array_bytes(items: tuple[bytes, ...] | list[bytes]) -> bytes:
    return b"[" + b" ".join(items) + b"]"


def ref(number: int) -> bytes:
    return b"%d 0 R" % number


def indirect(number: int, body: bytes) -> bytes:
    return b"%d 0 obj\n" % number + body + b"\nendobj\n"


def raw_stream(number: int, data: bytes) -> bytes:
    """An unfiltered stream object (DER in a DSS: readers take it as it is)."""
    return b"%d 0 obj\n<< /Length %d >>\nstream\n" % (number, len(data)) + data + b"\nendstream\nendobj\n"


@dataclass(frozen=True)
class FileState:
    """A finished file that the next update extends, and what that update rewrites."""

    length: int  # bytes so far: the next update starts here
    prev: int  # offset of the last xref section
    size: int  # trailer /Size: new objects are numbered from here
    xref_stream: bool
    root: int
    catalog: dict[str, bytes]  # without /AcroForm and /Extensions, which follow
    acroform: dict[str, bytes]  # without /Fields and /SigFlags
    fields: tuple[bytes, ...]
    extensions: dict[str, bytes] | None
    page: int  # page 1, which holds the signature widgets
    page_entries: dict[str, bytes]  # without /Annots
    annots: tuple[bytes, ...]
    trailer: dict[str, bytes]  # /Root, /Info
    first_id: bytes
    version: tuple[int, int]  # the higher of the header's and the catalog's

    def catalog_object(self) -> bytes:
        entries = dict(self.catalog)
        if self.extensions is not None:
            entries["/Extensions"] = dict_bytes(self.extensions)
        entries["/AcroForm"] = dict_bytes({**self.acroform, "/Fields": array_bytes(self.fields), "/SigFlags": b"3"})
        return indirect(self.root, dict_bytes(entries))

    def page_object(self) -> bytes:
        return indirect(self.page, dict_bytes({**self.page_entries, "/Annots": array_bytes(self.annots)}))

    def with_widget(self, widget: int) -> FileState:
        """A new signature field on page 1 (SigFlags SignaturesExist|AppendOnly)."""
        return replace(self, fields=(*self.fields, ref(widget)), annots=(*self.annots, ref(widget)))

    def trailer_entries(self) -> dict[str, bytes]:
        """/Root, /Info and a new second /ID (the first names the document, not the revision)."""
        second = hashlib.md5(self.first_id + os.urandom(16)).digest()
        ids = pikepdf.Array([pikepdf.String(self.first_id or second), pikepdf.String(second)]).unparse()
        return {**self.trailer, "/ID": ids}

    def after(self, update: Update) -> FileState:
        return replace(self, length=update.start + len(update.data), prev=update.xref_at, size=update.size)


@dataclass(frozen=True)
class Placeholder:
    """A signature dictionary in three parts around its /ByteRange numbers and /Contents."""

    number: int
    head: bytes  # up to and including "/ByteRange ["
    middle: bytes  # "] /Contents "
    end: bytes  # " >>"
    reserved: int  # bytes of DER /Contents holds


@dataclass
class Update:
    data: bytearray
    start: int  # file offset of data[0]
    contents_start: int  # offset of "<" of /Contents in data (0 without a signature)
    contents_end: int  # offset just after its ">"
    xref_at: int  # file offset of its xref section
    size: int  # its trailer /Size

    def fill(self, der: bytes) -> bytes:
        """The update with ``der`` hex-encoded into /Contents (zero-padded)."""
        hexed = binascii.hexlify(der).upper()
        room = self.contents_end - self.contents_start - 2
        if len(hexed) > room:
            raise ValueError(f"signature of {len(der)} bytes does not fit the {room // 2} reserved")
        self.data[self.contents_start + 1:self.contents_start + 1 + len(hexed)] = hexed
        return bytes(self.data)

    def contents(self) -> bytes:
        """/Contents as a reader decodes it, padding included."""
        return binascii.unhexlify(bytes(self.data[self.contents_start + 1:self.contents_end - 1]))


def lay_out(objects: dict[int, bytes], state: FileState, signature: Placeholder | None = None) -> Update:
    """Objects, signature dictionary and xref after ``state``; /ByteRange filled in, /Contents reserved."""
    start = state.length
    data = bytearray(b"\n")
    offsets: dict[int, int] = {}
    for number in sorted(objects):
        offsets[number] = start + len(data)
        data += objects[number]
    contents_start = contents_end = byte_range_at = 0
    if signature is not None:
        offsets[signature.number] = start + len(data)
        data += b"%d 0 obj\n" % signature.number + signature.head
        byte_range_at = len(data)
        data += b" " * BYTE_RANGE_WIDTH + signature.middle
        contents_start = len(data)
        data += b"<" + b"0" * (2 * signature.reserved) + b">"
        contents_end = len(data)
        data += signature.end + b"\nendobj\n"
    xref_at = start + len(data)
    section, size = _xref_section(offsets, xref_at, state)
    data += section
    if signature is not None:
        numbers = f"0 {start + contents_start} {start + contents_end} {len(data) - contents_end}"
        data[byte_range_at:byte_range_at + BYTE_RANGE_WIDTH] = numbers.encode().ljust(BYTE_RANGE_WIDTH)
    return Update(data=data, start=start, contents_start=contents_start, contents_end=contents_end,
                  xref_at=xref_at, size=size)


def _xref_section(offsets: dict[int, int], at: int, state: FileState) -> tuple[bytes, int]:
    """An xref table or stream for ``offsets`` starting at file offset ``at``, then the trailer; and its /Size."""
    entries = dict(offsets)
    if state.xref_stream:
        number = max(state.size, max(entries) + 1)
        entries[number] = at
    size = max(state.size, max(entries) + 1)
    runs = _runs(sorted(entries))
    extra = b"".join(b" " + key.encode() + b" " + value for key, value in state.trailer_entries().items())
    if not state.xref_stream:
        lines = [b"xref\n"]
        for first, count in runs:
            lines.append(b"%d %d\n" % (first, count))
            lines += [b"%010d 00000 n\r\n" % entries[n] for n in range(first, first + count)]
        return (b"".join(lines) + b"trailer\n<< /Size %d /Prev %d" % (size, state.prev) + extra
                + b" >>\nstartxref\n%d\n%%%%EOF\n" % at), size
    width = max(4, (max(entries.values()).bit_length() + 7) // 8)
    rows = b"".join(b"\x01" + entries[n].to_bytes(width, "big") + b"\x00\x00"
                    for first, count in runs for n in range(first, first + count))
    index = b" ".join(b"%d %d" % run for run in runs)
    return (b"%d 0 obj\n<< /Type /XRef /Size %d /Prev %d /Index [%s] /W [1 %d 2] /Length %d"
            % (number, size, state.prev, index, width, len(rows)) + extra
            + b" >>\nstream\n" + rows + b"\nendstream\nendobj\nstartxref\n%d\n%%%%EOF\n" % at), size


def _runs(numbers: list[int]) -> list[tuple[int, int]]:
    runs: list[tuple[int, int]] = []
    for n in numbers:
        if runs and runs[-1][0] + runs[-1][1] == n:
            runs[-1] = (runs[-1][0], runs[-1][1] + 1)
        else:
            runs.append((n, 1))
    return runs


class Objects:
    """Serialises objects of an update: those of the written file keep their numbers, new ones
    (from a scratch Pdf) are numbered from the file's /Size on as they are first referenced."""

    def __init__(self, base: pikepdf.Pdf, first_new: int, aliases: dict[tuple[int, int], int]) -> None:
        self._base = base
        self.next = first_new
        self._numbers = dict(aliases)
        self._pending: list[pikepdf.Object] = []

    def number(self, obj: pikepdf.Object, written_by_hand: bool = False) -> int:
        if obj.is_owned_by(self._base):
            return obj.objgen[0]
        key = obj.objgen
        if key not in self._numbers:
            self._numbers[key], self.next = self.next, self.next + 1
            if not written_by_hand:
                self._pending.append(obj)
        return self._numbers[key]

    def drain(self) -> dict[int, bytes]:
        """Every new object referenced so far, and those they reference, serialised."""
        written = {}
        while self._pending:
            obj = self._pending.pop()
            written[self._numbers[obj.objgen]] = self.indirect(obj)
        return written

    def entries(self, obj: pikepdf.Object, changes: dict | None = None) -> dict[str, bytes]:
        """A dictionary's entries serialised, with ``changes`` (``None`` removes an entry)."""
        merged = {**dict(obj.items()), **(changes or {})}
        return {key: self.value(value) for key, value in merged.items() if value is not None}

    def indirect(self, obj: pikepdf.Object) -> bytes:
        number = self.number(obj)
        if isinstance(obj, pikepdf.Stream):
            data, entries = obj.read_raw_bytes(), dict(obj.stream_dict.items())
            if "/Filter" not in entries and len(data) > COMPRESS_OVER:
                data, entries["/Filter"] = zlib.compress(data, COMPRESS_LEVEL), Name.FlateDecode
            entries["/Length"] = len(data)
            return b"%d 0 obj\n" % number + self.value(entries) + b"\nstream\n" + data + b"\nendstream\nendobj\n"
        return indirect(number, dict_bytes(self.entries(obj)))

    def value(self, obj) -> bytes:
        if isinstance(obj, bool):
            return b"true" if obj else b"false"
        if isinstance(obj, int):
            return b"%d" % obj
        if isinstance(obj, Decimal | float):
            return format(Decimal(obj), "f").encode()
        if obj is None:
            return b"null"
        if isinstance(obj, dict):
            return dict_bytes({k: self.value(v) for k, v in obj.items()})
        if isinstance(obj, list | tuple):
            return array_bytes([self.value(v) for v in obj])
        if obj.is_indirect:
            return ref(self.number(obj))
        if isinstance(obj, pikepdf.Dictionary):
            return self.value(dict(obj.items()))
        if isinstance(obj, pikepdf.Array):
            return self.value(list(obj))
        return obj.unparse()  # names, strings
