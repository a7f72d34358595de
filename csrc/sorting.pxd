"""Sorting for the rank-based metric kernels (cimported by metrics.pyx): values become
order-preserving uint64 keys carrying their index; small arrays are sorted by introsort,
large ones by an LSD radix sort, and ties then share their mean rank."""
from libc.stdint cimport uint64_t
from libc.string cimport memcpy


cdef struct Keyed:
    uint64_t key      # _order_key of the value: unsigned order is the values' order
    Py_ssize_t index


cdef inline uint64_t _order_key(double x) noexcept nogil:
    """Map a finite double to a uint64 with the same order; equal values, equal keys."""
    cdef uint64_t u
    x = x + 0.0  # -0.0 becomes +0.0
    memcpy(&u, &x, sizeof(double))
    if u >> 63:
        return ~u
    return u | (<uint64_t> 1 << 63)


cdef inline void _swap(Keyed* a, Keyed* b) noexcept nogil:
    cdef Keyed t = a[0]
    a[0] = b[0]
    b[0] = t


cdef inline void _sift_down(Keyed* v, Py_ssize_t start, Py_ssize_t end) noexcept nogil:
    cdef Py_ssize_t child, root = start
    while True:
        child = 2 * root + 1
        if child >= end:
            return
        if child + 1 < end and v[child].key < v[child + 1].key:
            child += 1
        if v[root].key < v[child].key:
            _swap(&v[root], &v[child])
            root = child
        else:
            return


cdef inline void _heapsort(Keyed* v, Py_ssize_t n) noexcept nogil:
    cdef Py_ssize_t i
    i = n // 2 - 1
    while i >= 0:
        _sift_down(v, i, n)
        i -= 1
    i = n - 1
    while i > 0:
        _swap(&v[0], &v[i])
        _sift_down(v, 0, i)
        i -= 1


cdef inline void _introsort(Keyed* v, Py_ssize_t n, int depth) noexcept nogil:
    """Sort v[:n] by key: quicksort (median of three), insertion sort below 16, heapsort
    once `depth` runs out."""
    cdef Py_ssize_t i, j, mid
    cdef uint64_t pivot
    cdef Keyed t
    while n > 16:
        if depth <= 0:
            _heapsort(v, n)
            return
        depth -= 1
        mid = n // 2
        if v[mid].key < v[0].key:
            _swap(&v[mid], &v[0])
        if v[n - 1].key < v[mid].key:
            _swap(&v[n - 1], &v[mid])
            if v[mid].key < v[0].key:
                _swap(&v[mid], &v[0])
        pivot = v[mid].key
        i = 0
        j = n - 1
        while True:
            while v[i].key < pivot:
                i += 1
            while pivot < v[j].key:
                j -= 1
            if i >= j:
                break
            _swap(&v[i], &v[j])
            i += 1
            j -= 1
        # v[:j+1] <= pivot <= v[j+1:]; recurse on the smaller side, loop on the larger.
        if j + 1 < n - j - 1:
            _introsort(v, j + 1, depth)
            v = v + j + 1
            n = n - j - 1
        else:
            _introsort(v + j + 1, n - j - 1, depth)
            n = j + 1
    for i in range(1, n):
        t = v[i]
        j = i - 1
        while j >= 0 and v[j].key > t.key:
            v[j + 1] = v[j]
            j -= 1
        v[j + 1] = t


cdef enum:
    RADIX_BITS = 11
    RADIX_BINS = 2048
    RADIX_PASSES = 6  # ceil(64 / 11)
    RADIX_MIN_N = 4096  # below this the quicksort wins (no 98 KB of counts to clear)


ctypedef fused Radixed:
    Keyed             # a key and the index it carries
    uint64_t          # a bare key: half the bytes moved a pass


cdef inline uint64_t _radix_key(Radixed x) noexcept nogil:
    if Radixed is Keyed:
        return x.key
    else:
        return x


cdef inline Radixed* _radix_sort(Radixed* v, Radixed* spare, Py_ssize_t n,
                                 Py_ssize_t* counts) noexcept nogil:
    """LSD radix sort of v[:n] by key, 11 bits a pass; returns v or spare, whichever holds
    the result. counts: RADIX_PASSES * RADIX_BINS zeroed slots. Passes where every key has
    the same digit (the exponent bits of similar values) are skipped."""
    cdef Py_ssize_t i, p, total, c
    cdef Py_ssize_t* count
    cdef int shift
    cdef Radixed* t
    for i in range(n):
        for p in range(RADIX_PASSES):
            counts[p * RADIX_BINS + ((_radix_key(v[i]) >> (p * RADIX_BITS)) & (RADIX_BINS - 1))] += 1
    for p in range(RADIX_PASSES):
        shift = p * RADIX_BITS
        count = counts + p * RADIX_BINS
        if count[(_radix_key(v[0]) >> shift) & (RADIX_BINS - 1)] == n:
            continue
        total = 0
        for i in range(RADIX_BINS):  # counts -> start offsets
            c = count[i]
            count[i] = total
            total += c
        for i in range(n):
            c = (_radix_key(v[i]) >> shift) & (RADIX_BINS - 1)
            spare[count[c]] = v[i]
            count[c] += 1
        t = v
        v = spare
        spare = t
    return v


cdef inline double _key_value(uint64_t key) noexcept nogil:
    """The double whose _order_key is `key` (+0.0 for a zero)."""
    cdef uint64_t u = (key & ~(<uint64_t> 1 << 63)) if key >> 63 else ~key
    cdef double x
    memcpy(&x, &u, sizeof(double))
    return x


cdef inline int _midranks(const double* x, Keyed* work, Keyed* spare, Py_ssize_t* counts,
                   double* rank, Py_ssize_t n) noexcept nogil:
    """rank[i] = 1-based rank of x[i] among x, ties sharing the mean of their positions.
    work, spare: n slots each; counts: zeroed RADIX_PASSES * RADIX_BINS slots."""
    cdef Py_ssize_t i, j, start = 0
    cdef int depth = 2
    cdef double r
    cdef Keyed* v = work
    for i in range(n):
        work[i].key = _order_key(x[i])
        work[i].index = i
    if n >= RADIX_MIN_N:
        v = _radix_sort(work, spare, n, counts)
    else:
        i = n
        while i > 1:
            depth += 2
            i >>= 1
        _introsort(work, n, depth)
    while start < n:
        j = start + 1
        while j < n and v[j].key == v[start].key:
            j += 1
        r = 0.5 * (start + j + 1)  # mean of 1-based positions start+1 .. j
        for i in range(start, j):
            rank[v[i].index] = r
        start = j
    return 0
