# Causal self-attention for small heads on the CPU: forward and backward of
# softmax(q k^T * scale, causal) v in float32, grouped-query heads, one (batch, kv head) group
# of work per call range. Used by sandmle.train.attention for training forwards (query length
# = key length, no padding mask); see that module for when and why.
#
# Layouts (C-contiguous float32): q, o, dq, do (B, H, T, D); k, v, dk, dv (B, KV, T, D);
# lse (B, H, T), the per-query log-sum-exp of the scaled scores, saved by the forward for the
# backward (which recomputes each row's probabilities from it: nothing (T, T) is stored).
# Work on group g = b * KV + kv covers query heads kv * H/KV .. (kv + 1) * H/KV - 1, so the
# gradients of a group's k and v are summed by one caller: groups run on threads in parallel.
#
# Queries go in blocks of four rows: each pass over the keys (k and v transposed to (D, T) per
# group, the key axis innermost and contiguous, so the compiler vectorises it) serves the four
# rows, and the backward's key and value gradients take one rank-4 update per block. exp is the
# Cephes single-precision polynomial written as plain arithmetic (vectorisable, unlike libm's
# expf; relative error ~1e-7). x86-64 Linux builds with gcc carry AVX-512, AVX2 and baseline
# copies of both kernels, picked at load time by the CPU's features (target_clones); other
# compilers build the baseline.

cdef extern from *:
    """
    #include <math.h>
    #include <stdint.h>
    #include <stdlib.h>
    #include <string.h>

    /* FP exceptions are never read: without trapping math, gcc if-converts (so vectorises) the
       clamp in exp */
    #if defined(__GNUC__) && !defined(__clang__)
    #pragma GCC push_options
    #pragma GCC optimize ("no-trapping-math")
    #endif

    #if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && defined(__linux__) && __GNUC__ >= 12
    #define SM_CLONES __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
    #elif defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && defined(__linux__) && __GNUC__ >= 6
    #define SM_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
    #else
    #define SM_CLONES
    #endif
    #define SM_LANES 16

    #define SM_ROWS 4         /* query rows per block: every pass over the keys serves four rows */
    _Static_assert(SM_ROWS == 4, "sm_rank_update spells out four rows");
    #define SM_INLINE static inline __attribute__((always_inline))

    static inline int sm_round_up(int n) { return (n + SM_LANES - 1) / SM_LANES * SM_LANES; }

    /* s[j] = exp(s[j] - shift) for j < nb (a multiple of SM_LANES). Cephes expf: k = round(x /
       ln 2), r = x - k ln 2 in two parts, degree-6 polynomial, times 2^k built in the exponent
       bits; x is clamped to [-87, 88] (the backward's lanes past a row may exceed 0: they are
       overwritten, but their exponent must not overflow an int). */
    SM_INLINE void sm_exp_shift(float *s, float shift, int nb) {
        for (int j = 0; j < nb; j++) {
            float x = s[j] - shift;
            x = x < -87.0f ? -87.0f : x;
            x = x > 88.0f ? 88.0f : x;
            /* round to nearest by the 1.5 * 2^23 shift: no branch, so the loop vectorises */
            float kf = (x * 1.44269504088896341f + 12582912.0f) - 12582912.0f;
            int k = (int)kf;
            float r = x - kf * 0.693359375f;
            r = r + kf * 2.12194440e-4f;
            float z = r * r;
            float p = 1.9875691500e-4f;
            p = p * r + 1.3981999507e-3f;
            p = p * r + 8.3334519073e-3f;
            p = p * r + 4.1665795894e-2f;
            p = p * r + 1.6666665459e-1f;
            p = p * r + 5.0000001201e-1f;
            p = p * z + r + 1.0f;
            union { int32_t i; float f; } u;
            u.i = (k + 127) << 23;
            s[j] = p * u.f;
        }
    }

    SM_INLINE float sm_max(const float *s, int nb) {
        float acc[SM_LANES];
        for (int l = 0; l < SM_LANES; l++) acc[l] = s[l];
        for (int j = SM_LANES; j < nb; j += SM_LANES)
            for (int l = 0; l < SM_LANES; l++) acc[l] = s[j + l] > acc[l] ? s[j + l] : acc[l];
        float m = acc[0];
        for (int l = 1; l < SM_LANES; l++) m = acc[l] > m ? acc[l] : m;
        return m;
    }

    SM_INLINE float sm_sum(const float *s, int nb) {
        float acc[SM_LANES] = {0};
        for (int j = 0; j < nb; j += SM_LANES)
            for (int l = 0; l < SM_LANES; l++) acc[l] += s[j + l];
        float total = 0.0f;
        for (int l = 0; l < SM_LANES; l++) total += acc[l];
        return total;
    }

    /* s[r, j] = x[r] . t[:, j] for r < SM_ROWS, j < nb: x (SM_ROWS, D), t (D, Tp), s (SM_ROWS, Tp).
       A block of SM_LANES keys is loaded once per d and serves the four rows. */
    SM_INLINE void sm_block_dots(float *restrict s, const float *restrict x, const float *restrict t,
                                 int Tp, int D, int nb) {
        for (int j0 = 0; j0 < nb; j0 += SM_LANES) {
            float acc[SM_ROWS][SM_LANES] = {{0}};
            for (int d = 0; d < D; d++) {
                const float *row = t + (size_t)d * Tp + j0;
                for (int r = 0; r < SM_ROWS; r++) {
                    float c = x[r * D + d];
                    for (int l = 0; l < SM_LANES; l++) acc[r][l] += c * row[l];
                }
            }
            for (int r = 0; r < SM_ROWS; r++)
                for (int l = 0; l < SM_LANES; l++) s[(size_t)r * Tp + j0 + l] = acc[r][l];
        }
    }

    /* out[r, :] = scale[r] * sum_{j < n} w[r, j] m[j, :] for r < SM_ROWS: w (SM_ROWS, Tp), m (n, D),
       out (SM_ROWS, D); two keys at a time into separate sums (independent multiply-adds) */
    SM_INLINE void sm_block_weighted(float *restrict out, const float *restrict w, const float *restrict m,
                                     int n, int Tp, int D, const float *scale) {
        float acc[2][SM_ROWS][256];
        for (int u = 0; u < 2; u++)
            for (int r = 0; r < SM_ROWS; r++)
                for (int d = 0; d < D; d++) acc[u][r][d] = 0.0f;
        int j = 0;
        for (; j < n; j += 2) {
            for (int u = 0; u < 2; u++) {
                int jj = j + u < n ? j + u : j;          /* odd n: the last key once, weight 0 */
                const float *row = m + (size_t)jj * D;
                for (int r = 0; r < SM_ROWS; r++) {
                    float c = j + u < n ? w[(size_t)r * Tp + jj] : 0.0f;
                    for (int d = 0; d < D; d++) acc[u][r][d] += c * row[d];
                }
            }
        }
        for (int r = 0; r < SM_ROWS; r++)
            for (int d = 0; d < D; d++) out[r * D + d] = (acc[0][r][d] + acc[1][r][d]) * scale[r];
    }

    /* out[j, :] += sum_{r < SM_ROWS} w[r, j] c[r, :] for j < n: out (n, D), w (SM_ROWS, Tp), c (SM_ROWS, D) */
    SM_INLINE void sm_rank_update(float *restrict out, const float *restrict w, const float *restrict c,
                                  int n, int Tp, int D) {
        const float *w0 = w, *w1 = w + Tp, *w2 = w + 2 * (size_t)Tp, *w3 = w + 3 * (size_t)Tp;
        const float *c0 = c, *c1 = c + D, *c2 = c + 2 * D, *c3 = c + 3 * D;
        for (int j = 0; j < n; j++) {
            float *restrict row = out + (size_t)j * D;
            float a0 = w0[j], a1 = w1[j], a2 = w2[j], a3 = w3[j];
            for (int d = 0; d < D; d++) row[d] += (a0 * c0[d] + a1 * c1[d]) + (a2 * c2[d] + a3 * c3[d]);
        }
    }

    static void sm_transpose(float *dst, const float *src, int T, int Tp, int D) {   /* (T, D) -> (D, Tp) */
        for (int j = 0; j < T; j++)
            for (int d = 0; d < D; d++) dst[(size_t)d * Tp + j] = src[(size_t)j * D + d];
    }

    /* rows i0 .. i0 + rows - 1 of x (T, D) times `scale` into block (SM_ROWS, D), zeros past T */
    SM_INLINE void sm_load_rows(float *block, const float *x, int i0, int rows, int D, float scale) {
        for (int r = 0; r < SM_ROWS; r++)
            for (int d = 0; d < D; d++) block[r * D + d] = r < rows ? x[(size_t)(i0 + r) * D + d] * scale : 0.0f;
    }

    /* Row r of the block (query i0 + r) sees keys 0 .. i0 + r: its probabilities from its scores
       s[r, :nb] and shift (the row max in the forward, the saved log-sum-exp in the backward),
       exactly 0 past its keys. */
    SM_INLINE void sm_block_probabilities(float *s, int Tp, int i0, int rows, int nb, const float *shift) {
        for (int r = 0; r < rows; r++) {
            float *row = s + (size_t)r * Tp;
            sm_exp_shift(row, shift[r], nb);
            for (int j = i0 + r + 1; j < nb; j++) row[j] = 0.0f;
        }
    }

    SM_INLINE void sm_forward_groups(const float *q, const float *k, const float *v, float *o, float *lse,
                                     int H, int KV, int T, const int D, float scale, int g0, int g1,
                                     float *kt, float *s) {
        int G = H / KV, Tp = sm_round_up(T);
        float qb[SM_ROWS * 256], ob[SM_ROWS * 256], m[SM_ROWS], inv[SM_ROWS];
        for (int g = g0; g < g1; g++) {
            int b = g / KV, kv = g % KV;
            const float *vg = v + (size_t)g * T * D;
            sm_transpose(kt, k + (size_t)g * T * D, T, Tp, D);
            for (int h = kv * G; h < (kv + 1) * G; h++) {
                size_t head = (size_t)b * H + h;
                const float *qh = q + head * T * D;
                float *oh = o + head * T * D, *lh = lse + head * T;
                for (int i0 = 0; i0 < T; i0 += SM_ROWS) {
                    int rows = T - i0 < SM_ROWS ? T - i0 : SM_ROWS, nmax = i0 + rows, nb = sm_round_up(nmax);
                    sm_load_rows(qb, qh, i0, rows, D, scale);
                    sm_block_dots(s, qb, kt, Tp, D, nb);
                    for (int r = 0; r < rows; r++) {
                        float *row = s + (size_t)r * Tp;
                        for (int j = i0 + r + 1; j < nb; j++) row[j] = row[0];   /* not the max */
                        m[r] = sm_max(row, nb);
                    }
                    sm_block_probabilities(s, Tp, i0, rows, nb, m);
                    for (int r = 0; r < SM_ROWS; r++) {
                        float l = r < rows ? sm_sum(s + (size_t)r * Tp, nb) : 1.0f;
                        inv[r] = 1.0f / l;
                        if (r < rows) lh[i0 + r] = m[r] + logf(l);
                    }
                    sm_block_weighted(ob, s, vg, nmax, Tp, D, inv);
                    memcpy(oh + (size_t)i0 * D, ob, sizeof(float) * (size_t)rows * D);
                }
            }
        }
    }

    SM_INLINE void sm_backward_groups(const float *q, const float *k, const float *v, const float *o,
                                      const float *lse, const float *dout, float *dq, float *dk, float *dv,
                                      int H, int KV, int T, const int D, float scale, int g0, int g1,
                                      float *kt, float *p) {
        int G = H / KV, Tp = sm_round_up(T);
        float *vt = kt + (size_t)D * Tp, *ds = p + (size_t)SM_ROWS * Tp;
        float qb[SM_ROWS * 256], dob[SM_ROWS * 256], dqb[SM_ROWS * 256], scales[SM_ROWS], shift[SM_ROWS];
        for (int r = 0; r < SM_ROWS; r++) scales[r] = scale;
        for (int g = g0; g < g1; g++) {
            int b = g / KV, kv = g % KV;
            const float *kg = k + (size_t)g * T * D;
            float *dkg = dk + (size_t)g * T * D, *dvg = dv + (size_t)g * T * D;
            sm_transpose(kt, kg, T, Tp, D);
            sm_transpose(vt, v + (size_t)g * T * D, T, Tp, D);
            memset(dkg, 0, sizeof(float) * (size_t)T * D);
            memset(dvg, 0, sizeof(float) * (size_t)T * D);
            for (int h = kv * G; h < (kv + 1) * G; h++) {
                size_t head = (size_t)b * H + h;
                const float *qh = q + head * T * D, *oh = o + head * T * D, *doh = dout + head * T * D;
                const float *lh = lse + head * T;
                float *dqh = dq + head * T * D;
                for (int i0 = 0; i0 < T; i0 += SM_ROWS) {
                    int rows = T - i0 < SM_ROWS ? T - i0 : SM_ROWS, nmax = i0 + rows, nb = sm_round_up(nmax);
                    sm_load_rows(qb, qh, i0, rows, D, scale);
                    sm_load_rows(dob, doh, i0, rows, D, 1.0f);
                    for (int r = 0; r < SM_ROWS; r++) shift[r] = r < rows ? lh[i0 + r] : 0.0f;
                    sm_block_dots(p, qb, kt, Tp, D, nb);
                    sm_block_probabilities(p, Tp, i0, rows, nb, shift);      /* P of the block */
                    sm_block_dots(ds, dob, vt, Tp, D, nb);                    /* dP = dO v^T */
                    for (int r = 0; r < SM_ROWS; r++) {
                        float *pr = p + (size_t)r * Tp, *dsr = ds + (size_t)r * Tp;
                        if (r >= rows) {                                      /* rows past T: no weight */
                            memset(pr, 0, sizeof(float) * nb);
                            memset(dsr, 0, sizeof(float) * nb);
                            continue;
                        }
                        const float *doi = dob + r * D, *oi = oh + (size_t)(i0 + r) * D;
                        float delta = 0.0f;
                        for (int d = 0; d < D; d++) delta += doi[d] * oi[d];
                        for (int j = 0; j < nb; j++) dsr[j] = pr[j] * (dsr[j] - delta);   /* dS */
                    }
                    sm_block_weighted(dqb, ds, kg, nmax, Tp, D, scales);      /* dQ = scale dS k */
                    memcpy(dqh + (size_t)i0 * D, dqb, sizeof(float) * (size_t)rows * D);
                    sm_rank_update(dkg, ds, qb, nmax, Tp, D);                 /* dK += dS^T (scale q) */
                    sm_rank_update(dvg, p, dob, nmax, Tp, D);                 /* dV += P^T dO */
                }
            }
        }
    }

    /* Specialised copies for the usual head sizes (the compiler keeps a row's D values in
       registers), a generic one for the rest; D <= 256. */
    #define SM_BY_HEAD_DIM(CALL)                                                   \
        switch (D) {                                                               \
            case 8: CALL(8); break;                                                \
            case 16: CALL(16); break;                                              \
            case 32: CALL(32); break;                                              \
            case 64: CALL(64); break;                                              \
            case 128: CALL(128); break;                                            \
            default: CALL(D);                                                      \
        }

    SM_CLONES
    static int sm_attention_forward(const float *q, const float *k, const float *v, float *o, float *lse,
                                    int H, int KV, int T, int D, float scale, int g0, int g1) {
        int Tp = sm_round_up(T);
        float *kt = (float *)calloc((size_t)D * Tp + (size_t)SM_ROWS * Tp, sizeof(float));
        if (kt == NULL) return -1;
        #define SM_FORWARD(DIM) sm_forward_groups(q, k, v, o, lse, H, KV, T, DIM, scale, g0, g1, kt, kt + (size_t)D * Tp)
        SM_BY_HEAD_DIM(SM_FORWARD)
        #undef SM_FORWARD
        free(kt);
        return 0;
    }

    SM_CLONES
    static int sm_attention_backward(const float *q, const float *k, const float *v, const float *o,
                                     const float *lse, const float *dout, float *dq, float *dk, float *dv,
                                     int H, int KV, int T, int D, float scale, int g0, int g1) {
        int Tp = sm_round_up(T);
        float *kt = (float *)calloc((size_t)2 * D * Tp + (size_t)2 * SM_ROWS * Tp, sizeof(float));
        if (kt == NULL) return -1;
        #define SM_BACKWARD(DIM) sm_backward_groups(q, k, v, o, lse, dout, dq, dk, dv, H, KV, T, DIM, scale, \
                                                    g0, g1, kt, kt + (size_t)2 * D * Tp)
        SM_BY_HEAD_DIM(SM_BACKWARD)
        #undef SM_BACKWARD
        free(kt);
        return 0;
    }
    #if defined(__GNUC__) && !defined(__clang__)
    #pragma GCC pop_options
    #endif
    """
    int sm_attention_forward(const float *q, const float *k, const float *v, float *o, float *lse,
                             int H, int KV, int T, int D, float scale, int g0, int g1) nogil
    int sm_attention_backward(const float *q, const float *k, const float *v, const float *o,
                              const float *lse, const float *dout, float *dq, float *dk, float *dv,
                              int H, int KV, int T, int D, float scale, int g0, int g1) nogil


def _check(int g0, int g1, **arrays):
    """(H, KV, T, D) after checking the shapes of every array (q, k, v, lse and the outputs
    named as their inputs: o, dout, dq like q; dk, dv like k) and the group range; ValueError
    naming the shapes otherwise (the C code trusts them)."""
    shapes = {name: tuple(x.shape[:x.ndim]) for name, x in arrays.items()}
    B, H, T, D = shapes["q"]
    KV = shapes["k"][1]
    want = {"q": (B, H, T, D), "o": (B, H, T, D), "dout": (B, H, T, D), "dq": (B, H, T, D), "lse": (B, H, T),
            "k": (B, KV, T, D), "v": (B, KV, T, D), "dk": (B, KV, T, D), "dv": (B, KV, T, D)}
    if KV == 0 or H % KV or not 0 < D <= 256 or any(shape != want[name] for name, shape in shapes.items()):
        raise ValueError("attention shapes: " + ", ".join(f"{name} {shape}" for name, shape in shapes.items()))
    if not 0 <= g0 <= g1 <= B * KV:
        raise ValueError(f"attention groups {g0}..{g1} outside 0..{B * KV} (batch x key-value heads)")
    return H, KV, T, D


def attention_forward(const float[:, :, :, ::1] q, const float[:, :, :, ::1] k, const float[:, :, :, ::1] v,
                      float[:, :, :, ::1] o, float[:, :, ::1] lse, float scale, int g0, int g1):
    """Forward over groups g0..g1-1 (g = batch * KV + kv head): writes those groups' heads of
    `o` (B, H, T, D) and `lse` (B, H, T). ValueError on shapes that do not fit together or
    groups out of range; MemoryError when the work buffers (about (D + 4) T floats) cannot be
    allocated."""
    cdef int H, KV, T, D, rc
    H, KV, T, D = _check(g0, g1, q=q, k=k, v=v, o=o, lse=lse)
    if T == 0 or g0 >= g1:
        return
    with nogil:
        rc = sm_attention_forward(&q[0, 0, 0, 0], &k[0, 0, 0, 0], &v[0, 0, 0, 0], &o[0, 0, 0, 0],
                                  &lse[0, 0, 0], H, KV, T, D, scale, g0, g1)
    if rc:
        raise MemoryError("attention forward: work buffers")


def attention_backward(const float[:, :, :, ::1] q, const float[:, :, :, ::1] k, const float[:, :, :, ::1] v,
                       const float[:, :, :, ::1] o, const float[:, :, ::1] lse, const float[:, :, :, ::1] dout,
                       float[:, :, :, ::1] dq, float[:, :, :, ::1] dk, float[:, :, :, ::1] dv,
                       float scale, int g0, int g1):
    """Backward over groups g0..g1-1: writes those groups' heads of `dq` (B, H, T, D) and their
    `dk`, `dv` (B, KV, T, D), summed over the group's query heads. Errors as the forward's."""
    cdef int H, KV, T, D, rc
    H, KV, T, D = _check(g0, g1, q=q, k=k, v=v, o=o, lse=lse, dout=dout, dq=dq, dk=dk, dv=dv)
    if T == 0 or g0 >= g1:
        return
    with nogil:
        rc = sm_attention_backward(&q[0, 0, 0, 0], &k[0, 0, 0, 0], &v[0, 0, 0, 0], &o[0, 0, 0, 0],
                                   &lse[0, 0, 0], &dout[0, 0, 0, 0], &dq[0, 0, 0, 0], &dk[0, 0, 0, 0],
                                   &dv[0, 0, 0, 0], H, KV, T, D, scale, g0, g1)
    if rc:
        raise MemoryError("attention backward: work buffers")
