"""Plain numeric CSV bodies, compiled to sandmle._native.plaincsv.

The reader of the common grading file: records of integer and decimal cells only, no
quotes, no blanks, LF or CRLF line ends. `parse_body` fills an int64 array per integer
column and one float64 (rows, k) C-order matrix of the decimal columns, or gives up (-1)
at the first byte outside that grammar, so the caller reads the file with polars instead.
`sandmle.grading.plain` is the only caller; it reads the header and checks the bytes' size.

Decimals are correctly rounded (ties to even), the value polars and Python's float() give:
- up to 2^53 times a power of ten within 10^+-22: one IEEE multiplication or division of
  two exact doubles (Clinger's fast path, as in every correct strtod);
- other digit strings of up to 19 significant digits: w * 10^q as w * T * 2^e where T is
  10^q's power of five truncated to 128 bits (0 <= error < 1); the 192-bit product P is
  exact, so the true product lies in [P, P + 2^64). When P's bits 64..127 are neither all
  zero nor all one, every number in that interval has P's bits from 128 up and a non-zero
  remainder below them: the 53 bits from P's leading one, plus the next bit, round as the
  true value does, with no tie. This is the check of Eisel and Lemire's algorithm, made
  conservative (Lemire, "Number parsing at a gigabyte per second", 2021);
- anything else (more digits, the rare undecided product, subnormal or overflowing
  results, exponents past 10^+-350) goes to Python's own correctly rounded
  `PyOS_string_to_double`.
"""
from cpython.mem cimport PyMem_Free, PyMem_Malloc
from libc.stdint cimport int64_t, uint64_t
from libc.string cimport memcpy

cdef extern from "Python.h":
    ctypedef struct PyObject
    double PyOS_string_to_double(const char* s, char** endptr, PyObject* overflow_exception) except? -1.0

cdef extern from *:
    """
    #include <stdint.h>
    static inline uint64_t sandmle_mul_hi(uint64_t a, uint64_t b, uint64_t* lo) {
        unsigned __int128 r = (unsigned __int128)a * b;
        *lo = (uint64_t)r;
        return (uint64_t)(r >> 64);
    }
    static inline int sandmle_clz(uint64_t x) { return __builtin_clzll(x); }
    #if !defined(__BYTE_ORDER__) || __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
    #error "plaincsv reads eight digits as one little-endian word"
    #endif
    /* whether all 8 bytes are '0'..'9': each high nibble 3, also after adding 6 */
    static inline int sandmle_eight_digits(uint64_t v) {
        return ((v & 0xF0F0F0F0F0F0F0F0ULL) | (((v + 0x0606060606060606ULL) & 0xF0F0F0F0F0F0F0F0ULL) >> 4))
               == 0x3333333333333333ULL;
    }
    /* the number 8 digit bytes spell, first byte most significant: pairs, quads, then all */
    static inline uint64_t sandmle_eight_digits_value(uint64_t v) {
        v = ((v & 0x0F0F0F0F0F0F0F0FULL) * (10 * 256 + 1)) >> 8;
        v = ((v & 0x00FF00FF00FF00FFULL) * (100 * 65536 + 1)) >> 16;
        return ((v & 0x0000FFFF0000FFFFULL) * (10000 * 4294967296ULL + 1)) >> 32;
    }
    """
    uint64_t mul_hi "sandmle_mul_hi"(uint64_t a, uint64_t b, uint64_t* lo) noexcept nogil
    int clz "sandmle_clz"(uint64_t x) noexcept nogil
    bint eight_digits "sandmle_eight_digits"(uint64_t v) noexcept nogil
    uint64_t eight_digits_value "sandmle_eight_digits_value"(uint64_t v) noexcept nogil

cdef enum:
    Q_MIN = -350                # 10^q outside [Q_MIN, Q_MAX] goes to the slow path
    Q_MAX = 310
    Q_COUNT = Q_MAX - Q_MIN + 1
    MAX_FRACTION = 400          # leading zeros after the point past this: the slow path

cdef uint64_t[Q_COUNT] _T_HI
cdef uint64_t[Q_COUNT] _T_LO
cdef int[Q_COUNT] _T_E2
cdef double[23] _POW10


def _fill_tables():
    """10^q = 5^q * 2^q with 5^q = T * 2^e2, T in [2^127, 2^128) truncated (Python integers)."""
    for q in range(Q_MIN, Q_MAX + 1):           # untyped: exact Python integers throughout
        if q >= 0:
            p = 5 ** q
            bits = p.bit_length()
            t = p << (128 - bits) if bits <= 128 else p >> (bits - 128)
            e2 = bits - 128
        else:
            p = 5 ** -q
            e2 = -(127 + p.bit_length())
            t = (1 << -e2) // p
        if not (1 << 127) <= t < (1 << 128):
            raise AssertionError(f"power-of-five table entry {q} is not normalised")
        _T_HI[q - Q_MIN] = t >> 64
        _T_LO[q - Q_MIN] = t & 0xFFFFFFFFFFFFFFFF
        _T_E2[q - Q_MIN] = e2
    for q in range(23):
        _POW10[q] = float(10 ** q)              # exact: 10^22 = 5^22 * 2^22 and 5^22 < 2^53


_fill_tables()


cdef bint _slow(const unsigned char* s, Py_ssize_t length, double* out) noexcept with gil:
    """Python's correctly rounded parse of a token already checked against the grammar;
    False if it fails (no memory): the caller gives up on the file."""
    cdef char* text = <char*> PyMem_Malloc(length + 1)
    if text == NULL:
        return False
    memcpy(text, s, length)
    text[length] = 0
    try:
        out[0] = PyOS_string_to_double(text, NULL, NULL)     # NULL: overflow gives +-inf
        return True
    except Exception:
        return False
    finally:
        PyMem_Free(text)


cdef inline bint _digit(unsigned char c) noexcept nogil:
    return <unsigned char> (c - 48) < 10


cdef inline bint _scaled(uint64_t w, int q, bint negative, double* out) noexcept nogil:
    """The double nearest w * 10^q (w != 0) by one 64 x 128-bit product; False when the
    product does not decide it or the result is not a normal double."""
    cdef int i = q - Q_MIN, lz = clz(w), top, shift, field
    cdef uint64_t W = w << lz, a0, a1, b0, b1, p1, p2, m, bits, carry
    a1 = mul_hi(W, _T_HI[i], &a0)
    b1 = mul_hi(W, _T_LO[i], &b0)
    p1 = a0 + b1
    carry = p1 < a0
    p2 = a1 + carry                     # a1 <= 2^64 - 2: no overflow
    if p1 == 0 or p1 == <uint64_t> -1:
        return False
    top = 191 if (p2 >> 63) else 190
    shift = top - 180                   # P's top 53 bits are p2 >> shift
    m = (p2 >> shift) + ((p2 >> (shift - 1)) & 1)
    field = top + _T_E2[i] + q - lz + 1023
    if m == (<uint64_t> 1 << 53):
        m >>= 1
        field += 1
    if field < 1 or field > 2046:
        return False
    bits = (<uint64_t> field << 52) | (m & ((<uint64_t> 1 << 52) - 1)) | (<uint64_t> negative << 63)
    memcpy(out, &bits, 8)
    return True


cdef inline Py_ssize_t _digits(const unsigned char* s, Py_ssize_t i, Py_ssize_t end, uint64_t* w,
                               Py_ssize_t* count) noexcept nogil:
    """Append the digits at s[i:] to w (wrapping past 19 digits: `count` says so); the index
    after them. Eight at a time while eight are there."""
    cdef uint64_t chunk
    while i + 8 <= end:
        memcpy(&chunk, s + i, 8)
        if not eight_digits(chunk):
            break
        w[0] = w[0] * 100000000 + eight_digits_value(chunk)
        count[0] += 8
        i += 8
    while i < end and _digit(s[i]):
        w[0] = w[0] * 10 + (s[i] - 48)
        count[0] += 1
        i += 1
    return i


cdef inline Py_ssize_t _decimal(const unsigned char* s, Py_ssize_t i, Py_ssize_t end, double* out) noexcept nogil:
    """Parse [+-]digits[.digits][(e|E)[+-]digits] at s[i:]; the index after it, or -1."""
    cdef Py_ssize_t start = i, first
    cdef bint negative = False, exp_negative = False
    cdef uint64_t w = 0
    cdef Py_ssize_t significant = 0, fraction = 0, exp_digits = 0, before
    cdef int exponent = 0, q
    if i + 1 < end and _digit(s[i]) and (s[i + 1] == 44 or s[i + 1] == 10 or s[i + 1] == 13):
        out[0] = s[i] - 48                               # one digit, then ',' or a line end
        return i + 1
    if i < end and (s[i] == 45 or s[i] == 43):          # '-' '+'
        negative = s[i] == 45
        i += 1
    first = i
    while i < end and s[i] == 48:                        # leading zeros add nothing to w
        i += 1
    i = _digits(s, i, end, &w, &significant)
    if i == first:
        return -1
    if i < end and s[i] == 46:                           # '.'
        i += 1
        first = i
        if significant == 0:
            while i < end and s[i] == 48:
                i += 1
            fraction = i - first
        before = significant
        i = _digits(s, i, end, &w, &significant)
        if i == first:
            return -1
        fraction += significant - before
    if i < end and (s[i] == 101 or s[i] == 69):          # 'e' 'E'
        i += 1
        if i < end and (s[i] == 45 or s[i] == 43):
            exp_negative = s[i] == 45
            i += 1
        first = i
        while i < end and _digit(s[i]):
            if exp_digits < 6:
                exponent = exponent * 10 + (s[i] - 48)
            exp_digits += 1
            i += 1
        if i == first:
            return -1
    if significant > 19 or fraction > MAX_FRACTION or exp_digits > 6:
        return i if _slow(s + start, i - start, out) else -1
    if w == 0:
        out[0] = -0.0 if negative else 0.0
        return i
    q = (-exponent if exp_negative else exponent) - <int> fraction
    if w <= (<uint64_t> 1 << 53) and -22 <= q <= 22:
        out[0] = <double> w * _POW10[q] if q >= 0 else <double> w / _POW10[-q]
        if negative:
            out[0] = -out[0]
        return i
    if Q_MIN <= q <= Q_MAX and _scaled(w, q, negative, out):
        return i
    return i if _slow(s + start, i - start, out) else -1


cdef inline Py_ssize_t _integer(const unsigned char* s, Py_ssize_t i, Py_ssize_t end, int64_t* out) noexcept nogil:
    """Parse [+-]digits (at most 18) at s[i:]; the index after it, or -1."""
    cdef Py_ssize_t first
    cdef bint negative = False
    cdef uint64_t v = 0                 # wraps harmlessly past 18 digits, which are refused
    if i < end and (s[i] == 45 or s[i] == 43):
        negative = s[i] == 45
        i += 1
    first = i
    while i < end and _digit(s[i]):
        v = v * 10 + (s[i] - 48)
        i += 1
    if i == first or i - first > 18:
        return -1
    out[0] = -<int64_t> v if negative else <int64_t> v
    return i


cdef Py_ssize_t _body(const unsigned char* s, Py_ssize_t i, Py_ssize_t end, const unsigned char* kinds,
                     Py_ssize_t k, int64_t* integers, Py_ssize_t capacity, double* decimals, Py_ssize_t width,
                     Py_ssize_t row, Py_ssize_t* stop) noexcept nogil:
    """Records into rows row, row + 1, ... < capacity; integers: column c's row r at
    c * capacity + r; decimals: row r's column c at r * width + c."""
    cdef Py_ssize_t j
    cdef int64_t* integer
    cdef double* decimal
    while i < end and row < capacity:
        integer = integers + row
        decimal = decimals + row * width
        for j in range(k):
            if kinds[j] == 105:                           # 'i'
                i = _integer(s, i, end, integer)
                integer += capacity
            else:
                i = _decimal(s, i, end, decimal)
                decimal += 1
            if i < 0:
                return -1
            if j + 1 < k:
                if i >= end or s[i] != 44:                # ','
                    return -1
                i += 1
        if i < end:
            if s[i] == 13:                                # CR only before LF
                i += 1
            if i >= end or s[i] != 10:
                return -1
            i += 1
        row += 1
    stop[0] = i
    return row


def parse_body(const unsigned char[::1] data, Py_ssize_t start, const unsigned char[::1] kinds,
               int64_t[:, ::1] integers, double[:, ::1] decimals, Py_ssize_t row):
    """(rows filled, offset reached) parsing data[start:] into rows `row`, `row` + 1, ... of
    the outputs, until the data or the outputs end (an offset short of the data's end: grow
    them and go on from there); rows -1 at the first byte outside the plain grammar."""
    # IN  data: the file; start: offset of a record; kinds: per column b"i" or b"f"
    # OUT integers: (integer columns, capacity); decimals: (capacity, decimal columns)
    cdef Py_ssize_t rows, stop = start
    if integers.shape[1] != decimals.shape[0] or not 0 <= row <= decimals.shape[0]:
        raise ValueError(f"integers hold {integers.shape[1]} rows, decimals {decimals.shape[0]}, "
                         f"row {row}")
    if start >= data.shape[0]:
        return row, start
    if integers.shape[0] + decimals.shape[1] != kinds.shape[0]:
        raise ValueError(f"{kinds.shape[0]} kinds for {integers.shape[0]} + {decimals.shape[1]} columns")
    with nogil:
        rows = _body(&data[0], start, data.shape[0], &kinds[0], kinds.shape[0],
                     &integers[0, 0] if integers.shape[0] else NULL, decimals.shape[0],
                     &decimals[0, 0] if decimals.shape[1] and decimals.shape[0] else NULL,
                     decimals.shape[1], row, &stop)
    return rows, stop
