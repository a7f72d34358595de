"""Reading: a CSV file's bytes -> a `Table` of text cells, by polars' CSV reader; a plain
numeric file whose columns are all typed goes to sandmle's own reader (`sandmle.grading.plain`).

`read_table(data, reader)` is the one reader of both sides. It refuses empty, binary and
non-UTF-8 files, and CSV structure errors (a record wider than the header, an unclosed quote,
a header without rows), each with an `InvalidSubmission` reason. Blank lines are skipped (the
pandas reader skips them before the header too) and a short record's missing cells are
empty, as pandas reads them. Header names follow the
profile's reader (`sandmle.grading.profile`): "sandmle" strips them; "pandas" names them as
`pandas.read_csv` does ("Unnamed: i" for a blank name, "x.1" for a second "x", and a first
record one field wider than the header makes that field the row index). Cells are kept as
written; `sandmle.grading.cells` reads them as numbers, labels or text.

A file named .zip (one CSV inside), .gz, .bz2 or .xz is decompressed first, as pandas infers
compression from the name; a submission may expand only to the size an uncompressed one may
have. `read_submission` refuses a file far larger than the answers before reading it;
`read_answers` (the trusted side) turns any problem into a `UserError`, since a broken
answers file is a bug in the task.
"""
from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from pathlib import Path

from sandmle.errors import InvalidSubmission, UserError
from sandmle.grading.plain import PlainColumns, read_plain

MAX_SIZE_FACTOR = 20               # a submission may be this many times the answers' size ...
MAX_SIZE_SLACK_BYTES = 1_000_000   # ... plus this much, before it is refused unread
_BOM = b"\xef\xbb\xbf"
_HEADER_SCAN_BYTES = 1 << 16
_BLANKS = " \t"


@dataclass(frozen=True)
class Table:
    """A CSV file as text cells: `names` as the reader sees the header, `frame` one String
    column per name, named by position ("0", "1", ...), empty strings for empty cells.
    A plain numeric file read by `sandmle.grading.plain` has `plain` instead of a frame:
    its columns become polars series only where asked for (`cells_at`)."""

    names: tuple[str, ...]
    frame: object                  # polars.DataFrame, or None with `plain`
    typed: bool = False            # some columns parsed as numbers while reading (`read_table`)
    memo: dict = field(default_factory=dict, compare=False, repr=False)   # derived arrays, per use
    plain: PlainColumns | None = field(default=None, compare=False, repr=False)

    @property
    def height(self) -> int:
        return self.plain.rows if self.plain is not None else self.frame.height

    def position(self, name: str) -> int:
        """The first column called `name` (KeyError when there is none)."""
        return self.names.index(name)

    def cells(self, name: str):
        return self.cells_at(self.position(name))

    def cells_at(self, position: int):
        if self.plain is None:
            return self.frame.get_column(str(position))
        key = ("plain column", position)
        if key not in self.memo:
            import polars as pl

            plain = self.plain
            values = (plain.integers[position] if position in plain.integers else
                      plain.decimals[:, plain.decimal_positions.index(position)])
            self.memo[key] = pl.Series(str(position), values)
        return self.memo[key]

    def decimal_rows(self, positions: tuple[int, ...]):
        """float64 (rows, len(positions)) C-order of these decimal columns when the plain
        reader read them (no copy when they are its columns in file order); else None."""
        plain = self.plain
        if plain is None or not set(positions) <= set(plain.decimal_positions):
            return None
        if positions == plain.decimal_positions:
            return plain.decimals
        key = ("plain decimals", positions)
        if key not in self.memo:
            import numpy as np

            self.memo[key] = np.ascontiguousarray(
                plain.decimals[:, [plain.decimal_positions.index(p) for p in positions]])
        return self.memo[key]


CACHED_ANSWERS_MAX_BYTES = 64 << 20     # larger answers are read again for every grade


def read_answers(path: Path, reader: str, task_id: str, typed: dict[str, str] | None = None,
                 cache: dict | None = None) -> Table:
    """The answers table (trusted): a broken one is a bug in the task and raises UserError.
    With `cache` (a loaded task's), a file read before and unchanged since (same size,
    modification time and inode) is not read again, and the arrays derived from it are kept."""
    try:
        info = path.stat()
        key = ("answers", str(path), info.st_size, info.st_mtime_ns, info.st_ino, reader,
               tuple(sorted((typed or {}).items())))
        if cache is not None and key in cache:
            return cache[key]
        table = _read_file(path, info.st_size, reader, typed)
    except (OSError, InvalidSubmission) as exc:
        raise UserError(f"task {task_id}: broken answers file {path}: {exc}") from None
    if cache is not None and info.st_size <= CACHED_ANSWERS_MAX_BYTES:
        for old in [k for k in list(cache) if k[0] == "answers"]:     # other threads grade too
            cache.pop(old, None)
        cache[key] = table
    return table


def read_header(path: Path) -> list[str]:
    """The header names of a CSV file (zipped or not) as written; UserError if unreadable."""
    try:
        with open(path, "rb") as fh:
            data = (fh.read(_HEADER_SCAN_BYTES) if path.suffix.lower() not in _COMPRESSED
                    else _unzipped(path, fh.read()))
        return _header(data)
    except (OSError, InvalidSubmission) as exc:
        raise UserError(f"cannot read the header of {path}: {exc}") from None


def read_submission(path: Path, answers_size: int, reader: str, typed: dict[str, str] | None = None) -> Table:
    try:
        size = path.stat().st_size
        limit = MAX_SIZE_FACTOR * answers_size + MAX_SIZE_SLACK_BYTES
        if size > limit:
            raise InvalidSubmission(f"submission is {size} bytes, far larger than the answers "
                                    f"({answers_size} bytes; the limit is {limit})")
        return _read_file(path, size, reader, typed, limit)
    except OSError as exc:
        raise InvalidSubmission(f"cannot read submission: {exc.strerror or exc}") from None


def _read_file(path: Path, size: int, reader: str, typed: dict[str, str] | None,
               limit: int | None = None) -> Table:
    """`read_table` of a file (`size` bytes); a typed read maps the file rather than copying
    it (17 MB of answers: 9 ms), and one that does not parse is not tried again on the bytes.
    `limit`: the most bytes a compressed file may expand to (None: `_expansion_limit`)."""
    if typed and reader == "sandmle" and size >= TYPED_MIN_BYTES and path.suffix.lower() not in _COMPRESSED:
        with open(path, "rb") as fh:
            head = fh.read(_HEADER_SCAN_BYTES)
        fast = _typed_table(path, head, typed)
        if fast is not None:
            return fast
        typed = None                                # it did not parse: read as text once
    return read_table(_unzipped(path, path.read_bytes(), limit), reader, typed)


def plain_first_record(head: bytes, reader: str) -> tuple[tuple[str, ...], list[bytes]] | None:
    """(the header names as `read_table` gives them, the first record's cells) of a CSV
    file's first lines when they are plain: a header line, then a record as wide as it, no
    quotes, no blank line, line ends "\n" or "\r\n"; None otherwise (read the file then)."""
    if b'"' in head:
        return None
    first = head.find(b"\n")
    if first < 0:
        return None
    second = head.find(b"\n", first + 1)
    line, record = head[:first], head[first + 1:second if second >= 0 else len(head)]
    if line.startswith(_BOM):
        line = line[len(_BOM):]
    line, record = line.removesuffix(b"\r"), record.removesuffix(b"\r")
    if b"\r" in line or b"\r" in record or not line.strip(b" \t") or not record.strip(b" \t"):
        return None
    try:
        header = line.decode("utf-8").split(",")
    except UnicodeDecodeError:
        return None
    cells = record.split(b",")
    if len(cells) != len(header):
        return None
    return (_pandas_names(header) if reader == "pandas" else tuple(n.strip() for n in header)), cells

_COMPRESSED = (".zip", ".gz", ".bz2", ".xz")       # pandas' compression="infer", less zstd and tar


def _expansion_limit(data: bytes) -> int:
    return MAX_SIZE_FACTOR * max(len(data), 1) * 50


def _unzipped(path: Path, data: bytes, limit: int | None = None) -> bytes:
    """The CSV inside a one-file .zip (pandas reads those by their extension, as MLE-bench's
    zipped sample submissions) or a .gz, .bz2 or .xz file; other files as they are. Each
    refuses to expand past `limit` bytes (a submission: the size limit of an uncompressed
    one), by default `_expansion_limit` (a compression bomb)."""
    suffix = path.suffix.lower()
    if suffix not in _COMPRESSED:
        return data
    limit = _expansion_limit(data) if limit is None else limit
    if suffix != ".zip":
        return _decompressed(suffix, data, limit)
    import zipfile

    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            members = [m for m in archive.infolist() if not m.is_dir()]
            if len(members) != 1:
                raise InvalidSubmission(f"zip archive holds {len(members)} files, expected one CSV file")
            if members[0].file_size > limit:
                raise InvalidSubmission("zip archive expands too far")
            return archive.read(members[0])
    except zipfile.BadZipFile as exc:
        raise InvalidSubmission(f"not a readable zip archive ({exc})") from None


def _decompressed(suffix: str, data: bytes, limit: int) -> bytes:
    """A .gz (every member), .bz2 or .xz file's bytes, decompressed up to `limit` bytes."""
    import bz2
    import lzma
    import zlib

    make = {".gz": lambda: zlib.decompressobj(wbits=31), ".bz2": bz2.BZ2Decompressor,
            ".xz": lzma.LZMADecompressor}[suffix]
    out = bytearray()
    rest = data
    try:
        while rest:
            unpack = make()
            out += unpack.decompress(rest, limit + 1 - len(out))
            if len(out) > limit:
                raise InvalidSubmission(f"{suffix[1:]} file expands too far")
            if not unpack.eof:
                raise InvalidSubmission(f"{suffix[1:]} file is truncated")
            rest = unpack.unused_data.lstrip(b"\x00") if suffix == ".gz" else unpack.unused_data
    except (OSError, EOFError, ValueError, zlib.error, lzma.LZMAError) as exc:
        raise InvalidSubmission(f"not a readable {suffix[1:]} file ({exc})") from None
    return bytes(out)


def read_table(data: bytes, reader: str = "sandmle", typed: dict[str, str] | None = None) -> Table:
    """The `Table` of a CSV file's bytes (see the module docstring).

    `typed` ({name: "int" | "float"}, sandmle reader only) asks polars to parse those
    columns as Int64 / Float64 while it reads, which saves a pass over their text; when a
    cell does not parse, or one is empty, every column is read as text instead (the slow
    path then gives the reason)."""
    import polars as pl

    if reader == "pandas":
        data = _without_leading_blank_lines(data)
    if typed and reader == "sandmle" and len(data) >= TYPED_MIN_BYTES:
        fast = _typed_table(data, data[:_HEADER_SCAN_BYTES], typed)
        if fast is not None:
            return fast
    if len(data) <= SMALL_BYTES:
        return _small_table(data, reader)
    if not data.strip():
        raise InvalidSubmission("file is empty")
    if b"\x00" in data:
        raise InvalidSubmission("file is binary, not CSV (it contains NUL bytes)")
    if b"\n" not in data and b"\r" in data:        # old Mac line ends, which pandas reads
        data = data.replace(b"\r", b"\n")
    header = _header(data)
    if not header:
        raise InvalidSubmission("the first line is blank; a header row is expected there")
    width = len(header)
    options = dict(infer_schema=False, empty_string_is_null=False, quote_char='"')
    try:
        frame = pl.read_csv(data, has_header=True, new_columns=[str(j) for j in range(width)], **options)
    except pl.exceptions.PolarsError as exc:
        text = str(exc)
        if "utf-8" in text or "utf8" in text:
            raise InvalidSubmission(_encoding_reason(data)) from None
        if "more fields" not in text:                 # quoting polars refuses: the csv module decides
            return _small_table(data, reader)
        frame = _implicit_index_frame(data, width, options) if reader == "pandas" else None
        if frame is None:
            raise InvalidSubmission(_long_record_reason(data, width)) from None
    frame = _without_blank_lines(frame)
    if frame.height == 0:
        raise InvalidSubmission("file has a header but no rows")
    names = _pandas_names(header) if reader == "pandas" else tuple(n.strip() for n in header)
    return Table(names=names, frame=frame)


SMALL_BYTES = 64 << 10        # smaller files go through Python's C csv module: polars' thread pool
                              # costs more than the parse (0.5-5 ms per read under load)
_POLARS_TYPES = {"int": "Int64", "float": "Float64"}
TYPED_MIN_BYTES = SMALL_BYTES  # all polars reads parse typed columns: at 10k rows a 160 KB file read
                              # typed took 1.45 ms CPU, read as text and cast 2.2 ms


def _typed_table(source: bytes | Path, head: bytes, typed: dict[str, str]) -> Table | None:
    """The table of `source` (bytes, or a file read without a copy) with `typed` columns
    parsed as numbers, or None (then read it as text). `head`: the file's first bytes, for
    its header. A file of typed columns only is tried with the plain reader first."""
    import polars as pl

    if b"\x00" in head or b"\n" not in head:
        return None
    try:
        header = _header(head)
    except InvalidSubmission:
        return None
    names = tuple(n.strip() for n in header)
    overrides = {}
    for name, kind in typed.items():
        if names.count(name) == 1:
            overrides[names.index(name)] = kind
    if not overrides or not header:
        return None
    header_end = head.index(b"\n") + 1
    line = head[:header_end].removesuffix(b"\n").removesuffix(b"\r")
    if len(overrides) == len(header) and b'"' not in line and b"\r" not in line:
        plain = read_plain(source, header_end, "".join("i" if overrides[j] == "int" else "f"
                                                       for j in range(len(header))))
        if plain is not None:
            return Table(names=names, frame=None, typed=True, plain=plain)
    schema = {str(j): getattr(pl, _POLARS_TYPES[kind]) for j, kind in overrides.items()}
    try:
        frame = pl.read_csv(source, has_header=True, new_columns=[str(j) for j in range(len(header))],
                            schema_overrides=schema, infer_schema=False, empty_string_is_null=False)
    except pl.exceptions.PolarsError:
        return None
    if frame.height == 0 or any(frame.get_column(c).null_count() for c in schema):
        return None                      # blank lines, empty cells: the text path says why
    return Table(names=names, frame=frame, typed=True)


def _small_table(data: bytes, reader: str) -> Table:
    """`read_table` by Python's csv module: the same cells polars gives for well-formed CSV;
    where quoting is malformed it reads as pandas does (`x"y` is x"y, `"x"y` is xy) and an
    unclosed quote is an error."""
    import gc

    import polars as pl

    if not data.strip():
        raise InvalidSubmission("file is empty")
    if b"\x00" in data:
        raise InvalidSubmission("file is binary, not CSV (it contains NUL bytes)")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InvalidSubmission(f"file is not UTF-8 text (invalid byte at offset {exc.start})") from None
    if "\n" not in text and "\r" in text:
        text = text.replace("\r", "\n")
    collecting = gc.isenabled()
    gc.disable()                 # the rows are acyclic lists: no collector passes while they pile up
    try:
        try:
            rows = list(csv.reader(io.StringIO(text, newline=""), strict=True))
        except csv.Error as exc:
            if "expected after" not in str(exc):
                raise InvalidSubmission(f"file is not valid CSV ({exc})") from None
            rows = list(csv.reader(io.StringIO(text, newline=""), strict=False))
        if not rows or not rows[0]:
            raise InvalidSubmission("file is empty" if not rows else
                                    "the first line is blank; a header row is expected there")
        header, body = rows[0], rows[1:]
        width = len(header)
        widths = set(map(len, body))
        if 0 in widths or 1 in widths:            # blank or whitespace-only lines: pandas skips them
            body = [r for r in body if len(r) > 1 or (r and r[0].strip(_BLANKS))]
            widths = set(map(len, body))
        if not body:
            raise InvalidSubmission("file has a header but no rows")
        if max(widths) > width:
            if reader == "pandas" and len(body[0]) == width + 1 and max(widths) == width + 1:
                body = [r[1:] for r in body]              # pandas: the extra first field is the index
                widths = set(map(len, body))
            else:
                raise InvalidSubmission(_long_record_reason(data, width))
        if widths != {width}:                     # short records: their missing cells are empty
            body = [r + [""] * (width - len(r)) for r in body]
        frame = pl.DataFrame([pl.Series(str(j), cells, dtype=pl.String) for j, cells in enumerate(zip(*body))])
    finally:
        if collecting:
            gc.enable()
    names = _pandas_names(header) if reader == "pandas" else tuple(n.strip() for n in header)
    return Table(names=names, frame=frame)


def _header(data: bytes) -> list[str]:
    """The header record's fields (a quoted name may span lines)."""
    if data.startswith(_BOM):
        data = data[len(_BOM):]
    end = 0
    while True:
        end = data.find(b"\n", end)
        chunk = data if end < 0 or end > _HEADER_SCAN_BYTES else data[:end + 1]
        try:
            text = chunk.decode("utf-8")
        except UnicodeDecodeError:
            raise InvalidSubmission(_encoding_reason(data)) from None
        try:
            return next(csv.reader(io.StringIO(text, newline=""), strict=True))
        except csv.Error as exc:
            if chunk is data:
                raise InvalidSubmission(f"file is not valid CSV (header: {exc})") from None
        except StopIteration:
            raise InvalidSubmission("file is empty") from None
        end += 1


def _implicit_index_frame(data: bytes, width: int, options: dict):
    """pandas' reading of a first record one field wider than the header: that field is the
    row index. The frame without it, or None when the records are not all that wide."""
    import polars as pl

    try:
        frame = pl.read_csv(data, has_header=False, skip_rows=1, **options)
    except pl.exceptions.PolarsError:
        return None
    if frame.width != width + 1:
        return None
    return frame.drop(frame.columns[0]).rename(dict(zip(frame.columns[1:], map(str, range(width)))))


def _without_leading_blank_lines(data: bytes) -> bytes:
    """The bytes from the first line with content on: pandas.read_csv skips blank and
    whitespace-only lines before the header (its header is the first line with content)."""
    body = data[len(_BOM):] if data.startswith(_BOM) else data
    start = 0
    while True:
        end = body.find(b"\n", start)
        if end < 0 or body[start:end].strip(b" \t\r"):
            break
        start = end + 1
    return data if start == 0 else body[start:]


def _without_blank_lines(frame):
    """Rows that polars read from blank or whitespace-only lines, removed (pandas skips them).
    Such a row has every cell empty but the first; the last column is checked first, as it
    is rarely empty."""
    blank = None
    for name in reversed(frame.columns[1:]):
        empty = frame.get_column(name) == ""
        blank = empty if blank is None else blank & empty
        if not blank.any():
            return frame
    first = frame.get_column("0")
    candidates = first == "" if blank is None else blank
    if blank is not None:
        first_blank = first.filter(blank).str.strip_chars(_BLANKS) == ""
        candidates = blank.clone()
        candidates[blank.arg_true()] = first_blank
    return frame.filter(~candidates) if candidates.any() else frame


def _pandas_names(header: list[str]) -> tuple[str, ...]:
    """Header names as pandas.read_csv gives them: "Unnamed: i" for blank ones, then a
    repeated name gets ".1", ".2" ... (pandas' dedup_names)."""
    names = [name if name != "" else f"Unnamed: {i}" for i, name in enumerate(header)]
    counts: dict[str, int] = {}
    out = []
    for name in names:
        count = counts.get(name, 0)
        while count > 0:
            counts[name] = count + 1
            name = f"{name}.{count}"
            count = counts.get(name, 0)
        counts[name] = count + 1
        out.append(name)
    return tuple(out)


def _long_record_reason(data: bytes, width: int) -> str:
    """"line 7 has 3 fields, the header 2": the first record wider than the header, by the
    line it starts on (1 = the header), read again with the csv module (error path only)."""
    text = data.decode("utf-8-sig", errors="replace")
    if "\n" not in text and "\r" in text:
        text = text.replace("\r", "\n")
    reader = csv.reader(io.StringIO(text, newline=""), strict=False)
    start = 1
    for record in reader:
        if len(record) > width:
            return f"line {start} has {len(record)} fields, the header {width}"
        start = reader.line_num + 1
    return f"a record has more fields than the header ({width})"


def _encoding_reason(data: bytes) -> str:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as exc:
        return f"file is not UTF-8 text (invalid byte at offset {exc.start})"
    return "file is not UTF-8 text"


def _first_line(text: str) -> str:
    return " ".join(text.strip().splitlines()[0].split())[:160] if text.strip() else "unreadable"
