# cython: boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
"""Winograd F(4x4, 3x3) convolutions on 8x8 boards, channels last, and the net's other C kernels.

A 3x3 convolution (padding 1) of an 8x8 board is computed on 2x2 output tiles of 4x4 squares,
each read from a 6x6 input tile. With the transforms of Lavin and Gray (2015,
"Fast Algorithms for Convolutional Neural Networks"), a tile costs 36 multiply-adds per
input-output channel pair instead of 144: :func:`input_transform` turns ``[N, 8, 8, C]``
activations into ``V [36, 4N, C]``; :func:`batched_products` multiplies each of the 36 slices by
the transformed weights ``U [36, C, K]`` into ``M [36, 4N, K]``; :func:`output_transform` turns
``M`` back into ``[N, 8, 8, K]`` and adds the bias, an optional residual and an optional ReLU on
the way. :func:`convolve` does all three in one call. This is how lc0's CPU (BLAS) backend runs
its convolutions; on 8x8 boards the products shrink 4x and the transforms cost a fraction of them.
:func:`squeeze_excite` is lc0's SE unit fused with the residual add.

The kernels are C (below), looping with the channel index innermost over contiguous memory so
that the compiler vectorises them; each is built twice, for AVX2+FMA (the GEMM as a
register-blocked 6x16 kernel) and for the build's baseline, and :func:`kernels` says which one
runs. All of them release the GIL. Where a value is NaN the ReLU (and the max that stands for
"no ReLU") does not keep it: the backend is for finite weights and inputs.
"""

from libc.stdlib cimport free, malloc

cdef extern from *:
    """
    #include <stddef.h>
    #include <math.h>
    #include <string.h>
    #if defined(__GNUC__) && defined(__x86_64__)
    #define WINOGRAD_AVX2 1
    #endif
    #define WINOGRAD_INLINE static inline __attribute__((always_inline))
    /* scratch floats per channel: input = a zero-bordered 10x10 board + 6x6 rows; output = 6x4 + 4x4 */
    #define WINOGRAD_INPUT_SCRATCH 136
    #define WINOGRAD_OUTPUT_SCRATCH 40

    /* B^T along one axis: six channel vectors (src + k * src_step) in, six (dst + k * dst_step) out. */
    WINOGRAD_INLINE void winograd_b(const float* restrict src, ptrdiff_t src_step, float* restrict dst,
                                    ptrdiff_t dst_step, ptrdiff_t channels) {
        const float *d0 = src, *d1 = src + src_step, *d2 = src + 2 * src_step, *d3 = src + 3 * src_step,
                    *d4 = src + 4 * src_step, *d5 = src + 5 * src_step;
        float *r0 = dst, *r1 = dst + dst_step, *r2 = dst + 2 * dst_step, *r3 = dst + 3 * dst_step,
              *r4 = dst + 4 * dst_step, *r5 = dst + 5 * dst_step;
        #pragma GCC ivdep
        for (ptrdiff_t c = 0; c < channels; c++) {
            r0[c] = 4.0f * d0[c] - 5.0f * d2[c] + d4[c];
            r1[c] = -4.0f * (d1[c] + d2[c]) + d3[c] + d4[c];
            r2[c] = 4.0f * (d1[c] - d2[c]) - d3[c] + d4[c];
            r3[c] = 2.0f * (d3[c] - d1[c]) - d2[c] + d4[c];
            r4[c] = 2.0f * (d1[c] - d3[c]) - d2[c] + d4[c];
            r5[c] = 4.0f * d1[c] - 5.0f * d3[c] + d5[c];
        }
    }

    /* A^T along one axis: six channel vectors in, four out. */
    WINOGRAD_INLINE void winograd_a(const float* restrict src, ptrdiff_t src_step, float* restrict dst,
                                    ptrdiff_t dst_step, ptrdiff_t channels) {
        const float *m0 = src, *m1 = src + src_step, *m2 = src + 2 * src_step, *m3 = src + 3 * src_step,
                    *m4 = src + 4 * src_step, *m5 = src + 5 * src_step;
        float *o0 = dst, *o1 = dst + dst_step, *o2 = dst + 2 * dst_step, *o3 = dst + 3 * dst_step;
        #pragma GCC ivdep
        for (ptrdiff_t c = 0; c < channels; c++) {
            float plus12 = m1[c] + m2[c], minus12 = m1[c] - m2[c];
            float plus34 = m3[c] + m4[c], minus34 = m3[c] - m4[c];
            o0[c] = m0[c] + plus12 + plus34;
            o1[c] = minus12 + 2.0f * minus34;
            o2[c] = plus12 + 4.0f * plus34;
            o3[c] = minus12 + 8.0f * minus34 + m5[c];
        }
    }

    /* x [N, 8, 8, C] -> v [36, 4N, C]; scratch holds WINOGRAD_INPUT_SCRATCH * C floats. */
    WINOGRAD_INLINE void winograd_input_body(const float* restrict x, ptrdiff_t boards, ptrdiff_t channels,
                                        float* restrict v, float* restrict scratch) {
        float* restrict padded = scratch;  /* [10][10][C]: the board with a zero border */
        float* restrict rows = scratch + 100 * channels;
        ptrdiff_t point_stride = 4 * boards * channels;
        memset(padded, 0, 100 * channels * sizeof(float));
        for (ptrdiff_t n = 0; n < boards; n++) {
            for (int row = 0; row < 8; row++)
                memcpy(padded + (10 * (row + 1) + 1) * channels, x + (n * 64 + 8 * row) * channels,
                       8 * channels * sizeof(float));
            for (int ty = 0; ty < 2; ty++) {
                for (int tx = 0; tx < 2; tx++) {
                    ptrdiff_t tile = 4 * n + 2 * ty + tx;
                    const float* corner = padded + (10 * 4 * ty + 4 * tx) * channels;
                    for (int b = 0; b < 6; b++)  /* rows = B^T d, column b */
                        winograd_b(corner + b * channels, 10 * channels, rows + b * channels, 6 * channels, channels);
                    for (int i = 0; i < 6; i++)  /* V = rows B, row i, into the GEMM layout */
                        winograd_b(rows + 6 * i * channels, channels, v + 6 * i * point_stride + tile * channels,
                                   point_stride, channels);
                }
            }
        }
    }

    /* m [36, 4N, K] -> y [N, 8, 8, K] = A^T m A + bias (+ residual) (ReLU); scratch holds
       WINOGRAD_OUTPUT_SCRATCH * K floats.
       residual may be y itself: each value is read just before it is written. */
    WINOGRAD_INLINE void winograd_output_body(const float* restrict m, const float* restrict bias,
                                         const float* residual, int relu, ptrdiff_t boards,
                                         ptrdiff_t channels, float* y, float* restrict scratch) {
        float* restrict rows = scratch;
        float* restrict tile_out = scratch + 24 * channels;
        const float floor = relu ? 0.0f : -INFINITY;  /* ReLU or nothing, without a branch in the loop */
        ptrdiff_t point_stride = 4 * boards * channels;
        for (ptrdiff_t n = 0; n < boards; n++) {
            for (int ty = 0; ty < 2; ty++) {
                for (int tx = 0; tx < 2; tx++) {
                    ptrdiff_t tile = 4 * n + 2 * ty + tx;
                    for (int i = 0; i < 6; i++)  /* rows = m A, row i */
                        winograd_a(m + 6 * i * point_stride + tile * channels, point_stride,
                                   rows + 4 * i * channels, channels, channels);
                    for (int q = 0; q < 4; q++)  /* tile_out = A^T rows, column q */
                        winograd_a(rows + q * channels, 4 * channels, tile_out + q * channels, 4 * channels,
                                   channels);
                    for (int p = 0; p < 4; p++) {
                        for (int q = 0; q < 4; q++) {
                            ptrdiff_t offset = ((n * 8 + 4 * ty + p) * 8 + 4 * tx + q) * channels;
                            const float* restrict t = tile_out + (4 * p + q) * channels;
                            float* out = y + offset;
                            if (residual) {
                                const float* skip = residual + offset;
                                #pragma GCC ivdep
                                for (ptrdiff_t c = 0; c < channels; c++) {
                                    float value = t[c] + bias[c] + skip[c];
                                    out[c] = value > floor ? value : floor;
                                }
                            } else {
                                #pragma GCC ivdep
                                for (ptrdiff_t c = 0; c < channels; c++) {
                                    float value = t[c] + bias[c];
                                    out[c] = value > floor ? value : floor;
                                }
                            }
                        }
                    }
                }
            }
        }
    }

    /* m[p] = v[p] @ u[p] for each of `points` products: v [points, rows, C], u [points, C, K],
       m [points, rows, K]. The generic loop order (row, input channel, output channel) vectorises
       over output channels; the AVX2 build below replaces it with a register-blocked kernel. */
    WINOGRAD_INLINE void winograd_gemm_body(const float* restrict v, const float* restrict u, float* restrict m,
                                            ptrdiff_t points, ptrdiff_t rows, ptrdiff_t in_channels,
                                            ptrdiff_t out_channels) {
        for (ptrdiff_t p = 0; p < points; p++) {
            const float* vp = v + p * rows * in_channels;
            const float* up = u + p * in_channels * out_channels;
            float* mp = m + p * rows * out_channels;
            for (ptrdiff_t r = 0; r < rows; r++) {
                float* out = mp + r * out_channels;
                memset(out, 0, out_channels * sizeof(float));
                for (ptrdiff_t c = 0; c < in_channels; c++) {
                    const float a = vp[r * in_channels + c];
                    const float* restrict urow = up + c * out_channels;
                    #pragma GCC ivdep
                    for (ptrdiff_t k = 0; k < out_channels; k++)
                        out[k] += a * urow[k];
                }
            }
        }
    }

    #ifdef WINOGRAD_AVX2
    #include <immintrin.h>

    /* GEMM_ROWS x 16 block of m: 12 accumulators in ymm registers, one broadcast of v and two
       loads of u per input channel (the lc0/BLIS register-blocking pattern). */
    #define GEMM_ROWS 6
    __attribute__((target("avx2,fma"), always_inline)) static inline void winograd_gemm_block(
            const float* restrict v, const float* restrict u, float* restrict m, int count,
            ptrdiff_t in_channels, ptrdiff_t out_channels) {
        __m256 acc[GEMM_ROWS][2];
        for (int r = 0; r < GEMM_ROWS; r++) acc[r][0] = acc[r][1] = _mm256_setzero_ps();
        for (ptrdiff_t c = 0; c < in_channels; c++) {
            __m256 b0 = _mm256_loadu_ps(u + c * out_channels), b1 = _mm256_loadu_ps(u + c * out_channels + 8);
            for (int r = 0; r < count; r++) {
                __m256 a = _mm256_broadcast_ss(v + r * in_channels + c);
                acc[r][0] = _mm256_fmadd_ps(a, b0, acc[r][0]);
                acc[r][1] = _mm256_fmadd_ps(a, b1, acc[r][1]);
            }
        }
        for (int r = 0; r < count; r++) {
            _mm256_storeu_ps(m + r * out_channels, acc[r][0]);
            _mm256_storeu_ps(m + r * out_channels + 8, acc[r][1]);
        }
    }

    __attribute__((target("avx2,fma"))) static void winograd_gemm_avx2(
            const float* v, const float* u, float* m, ptrdiff_t points, ptrdiff_t rows, ptrdiff_t in_channels,
            ptrdiff_t out_channels) {
        ptrdiff_t blocked = out_channels - out_channels % 16;
        for (ptrdiff_t p = 0; p < points; p++) {
            const float* vp = v + p * rows * in_channels;
            const float* up = u + p * in_channels * out_channels;
            float* mp = m + p * rows * out_channels;
            for (ptrdiff_t r0 = 0; r0 < rows; r0 += GEMM_ROWS) {
                int count = rows - r0 < GEMM_ROWS ? (int)(rows - r0) : GEMM_ROWS;
                for (ptrdiff_t k0 = 0; k0 < blocked; k0 += 16) {
                    if (count == GEMM_ROWS)  /* the constant count lets the compiler unroll it all */
                        winograd_gemm_block(vp + r0 * in_channels, up + k0, mp + r0 * out_channels + k0,
                                            GEMM_ROWS, in_channels, out_channels);
                    else
                        winograd_gemm_block(vp + r0 * in_channels, up + k0, mp + r0 * out_channels + k0,
                                            count, in_channels, out_channels);
                }
                for (int r = 0; r < count; r++) {  /* output channels past the last block of 16 */
                    for (ptrdiff_t k = blocked; k < out_channels; k++) {
                        float sum = 0.0f;
                        for (ptrdiff_t c = 0; c < in_channels; c++)
                            sum += vp[(r0 + r) * in_channels + c] * up[c * out_channels + k];
                        mp[(r0 + r) * out_channels + k] = sum;
                    }
                }
            }
        }
    }
    #endif

    /* lc0's squeeze-excitation fused with the skip add, in place on x [N, 64, C]:
       x = relu(sigmoid(gamma) * out + beta + x), (gamma, beta) = W2 relu(W1 mean(out) + b1) + b2,
       with w1 [C, S], w2 [S, 2C] (input-major); scratch holds C + S + 2C floats. */
    WINOGRAD_INLINE void winograd_se_body(const float* restrict out, float* restrict x, const float* restrict w1,
                                          const float* restrict b1, const float* restrict w2,
                                          const float* restrict b2, ptrdiff_t boards, ptrdiff_t channels,
                                          ptrdiff_t squeeze, float* restrict scratch) {
        float* restrict pooled = scratch;
        float* restrict hidden = scratch + channels;
        float* restrict gates = hidden + squeeze;
        for (ptrdiff_t n = 0; n < boards; n++) {
            const float* board_out = out + n * 64 * channels;
            float* board_x = x + n * 64 * channels;
            memset(pooled, 0, channels * sizeof(float));
            for (int sq = 0; sq < 64; sq++) {
                #pragma GCC ivdep
                for (ptrdiff_t c = 0; c < channels; c++) pooled[c] += board_out[sq * channels + c];
            }
            for (ptrdiff_t c = 0; c < channels; c++) pooled[c] *= 1.0f / 64.0f;
            for (ptrdiff_t j = 0; j < squeeze; j++) {
                float sum = b1[j];
                for (ptrdiff_t c = 0; c < channels; c++) sum += pooled[c] * w1[c * squeeze + j];
                hidden[j] = sum > 0.0f ? sum : 0.0f;
            }
            memcpy(gates, b2, 2 * channels * sizeof(float));
            for (ptrdiff_t j = 0; j < squeeze; j++) {
                const float h = hidden[j];
                #pragma GCC ivdep
                for (ptrdiff_t c = 0; c < 2 * channels; c++) gates[c] += h * w2[j * 2 * channels + c];
            }
            for (ptrdiff_t c = 0; c < channels; c++) gates[c] = 1.0f / (1.0f + expf(-gates[c]));
            for (int sq = 0; sq < 64; sq++) {
                const float* o = board_out + sq * channels;
                float* xs = board_x + sq * channels;
                #pragma GCC ivdep
                for (ptrdiff_t c = 0; c < channels; c++) {
                    float value = gates[c] * o[c] + gates[channels + c] + xs[c];
                    xs[c] = value > 0.0f ? value : 0.0f;
                }
            }
        }
    }

    /* Each kernel is compiled twice, for AVX2+FMA and for the build's baseline, and the CPU picks
       (GCC's target_clones cannot: its "arch=haswell" clone tests the CPU model, not its features). */
    #ifdef WINOGRAD_AVX2
    __attribute__((target("avx2,fma"))) static void winograd_input_avx2(
            const float* x, ptrdiff_t boards, ptrdiff_t channels, float* v, float* scratch) {
        winograd_input_body(x, boards, channels, v, scratch);
    }
    __attribute__((target("avx2,fma"))) static void winograd_output_avx2(
            const float* m, const float* bias, const float* residual, int relu, ptrdiff_t boards,
            ptrdiff_t channels, float* y, float* scratch) {
        winograd_output_body(m, bias, residual, relu, boards, channels, y, scratch);
    }
    __attribute__((target("avx2,fma"))) static void winograd_se_avx2(
            const float* out, float* x, const float* w1, const float* b1, const float* w2, const float* b2,
            ptrdiff_t boards, ptrdiff_t channels, ptrdiff_t squeeze, float* scratch) {
        winograd_se_body(out, x, w1, b1, w2, b2, boards, channels, squeeze, scratch);
    }
    static int winograd_baseline_only = 0;  /* set by select_kernels("baseline") */
    static int winograd_has_avx2(void) {
        static int known = -1;
        if (known < 0) {
            __builtin_cpu_init();
            known = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
        }
        return known && !winograd_baseline_only;
    }
    #endif

    static void winograd_input(const float* x, ptrdiff_t boards, ptrdiff_t channels, float* v, float* scratch) {
    #ifdef WINOGRAD_AVX2
        if (winograd_has_avx2()) { winograd_input_avx2(x, boards, channels, v, scratch); return; }
    #endif
        winograd_input_body(x, boards, channels, v, scratch);
    }

    static void winograd_output(const float* m, const float* bias, const float* residual, int relu,
                                ptrdiff_t boards, ptrdiff_t channels, float* y, float* scratch) {
    #ifdef WINOGRAD_AVX2
        if (winograd_has_avx2()) { winograd_output_avx2(m, bias, residual, relu, boards, channels, y, scratch); return; }
    #endif
        winograd_output_body(m, bias, residual, relu, boards, channels, y, scratch);
    }

    static void winograd_se(const float* out, float* x, const float* w1, const float* b1, const float* w2,
                            const float* b2, ptrdiff_t boards, ptrdiff_t channels, ptrdiff_t squeeze,
                            float* scratch) {
    #ifdef WINOGRAD_AVX2
        if (winograd_has_avx2()) { winograd_se_avx2(out, x, w1, b1, w2, b2, boards, channels, squeeze, scratch); return; }
    #endif
        winograd_se_body(out, x, w1, b1, w2, b2, boards, channels, squeeze, scratch);
    }

    static void winograd_gemm(const float* v, const float* u, float* m, ptrdiff_t points, ptrdiff_t rows,
                              ptrdiff_t in_channels, ptrdiff_t out_channels) {
    #ifdef WINOGRAD_AVX2
        if (winograd_has_avx2()) { winograd_gemm_avx2(v, u, m, points, rows, in_channels, out_channels); return; }
    #endif
        winograd_gemm_body(v, u, m, points, rows, in_channels, out_channels);
    }

    static void winograd_select_baseline(int baseline) {
    #ifdef WINOGRAD_AVX2
        winograd_baseline_only = baseline;
    #endif
    }

    static const char* winograd_kernels(void) {
    #ifdef WINOGRAD_AVX2
        if (winograd_has_avx2()) return "avx2";
    #endif
        return "baseline";
    }
    """
    void winograd_input(const float* x, Py_ssize_t boards, Py_ssize_t channels, float* v,
                        float* scratch) noexcept nogil
    void winograd_output(const float* m, const float* bias, const float* residual, int relu,
                         Py_ssize_t boards, Py_ssize_t channels, float* y, float* scratch) noexcept nogil
    void winograd_gemm(const float* v, const float* u, float* m, Py_ssize_t points, Py_ssize_t rows,
                       Py_ssize_t in_channels, Py_ssize_t out_channels) noexcept nogil
    void winograd_se(const float* out, float* x, const float* w1, const float* b1, const float* w2,
                     const float* b2, Py_ssize_t boards, Py_ssize_t channels, Py_ssize_t squeeze,
                     float* scratch) noexcept nogil
    const char* winograd_kernels() noexcept nogil
    void winograd_select_baseline(int baseline) noexcept nogil
    enum:
        WINOGRAD_INPUT_SCRATCH
        WINOGRAD_OUTPUT_SCRATCH

cdef enum:
    _TILE_POINTS = 36
    _TILES_PER_BOARD = 4

TILE_POINTS = _TILE_POINTS
"""Points of a 6x6 input tile: the leading dimension of ``V``, ``U`` and ``M``."""
TILES_PER_BOARD = _TILES_PER_BOARD
"""Output tiles (4x4 squares) of a board: ``V`` and ``M`` have ``4N`` rows."""

winograd_kernels()  # detect the CPU once, at import, before any thread runs a kernel


def kernels() -> str:
    """Which build of the kernels runs: ``"avx2"`` (AVX2 and FMA, where the CPU has them) or ``"baseline"``."""
    return winograd_kernels().decode()


def select_kernels(name: str) -> str:
    """Run the ``"baseline"`` kernels even on an AVX2 CPU, or ``"best"`` (the default); returns :func:`kernels`.

    For tests and comparisons: both builds must give the same results.
    """
    if name not in ("baseline", "best"):
        raise ValueError(f"kernels must be 'baseline' or 'best', got {name!r}")
    winograd_select_baseline(name == "baseline")
    return kernels()


cdef int _check_input(const float[:, :, :, ::1] x, float[:, :, ::1] v) except -1:
    if x.shape[1] != 8 or x.shape[2] != 8:
        raise ValueError(f"boards must be 8x8, got {x.shape[1]}x{x.shape[2]}")
    if v.shape[0] != _TILE_POINTS or v.shape[1] != _TILES_PER_BOARD * x.shape[0] or v.shape[2] != x.shape[3]:
        raise ValueError(f"v must be [36, {_TILES_PER_BOARD * x.shape[0]}, {x.shape[3]}], got "
                         f"[{v.shape[0]}, {v.shape[1]}, {v.shape[2]}]")
    return 0


cdef int _check_products(const float[:, :, ::1] v, const float[:, :, ::1] u, float[:, :, ::1] m) except -1:
    if u.shape[0] != v.shape[0] or u.shape[1] != v.shape[2]:
        raise ValueError(f"u must be [{v.shape[0]}, {v.shape[2]}, K], got [{u.shape[0]}, {u.shape[1]}, {u.shape[2]}]")
    if m.shape[0] != v.shape[0] or m.shape[1] != v.shape[1] or m.shape[2] != u.shape[2]:
        raise ValueError(f"m must be [{v.shape[0]}, {v.shape[1]}, {u.shape[2]}], got "
                         f"[{m.shape[0]}, {m.shape[1]}, {m.shape[2]}]")
    return 0


cdef int _check_output(const float[:, :, ::1] m, const float[::1] bias, float[:, :, :, ::1] y,
                       const float[:, :, :, ::1] residual) except -1:
    if y.shape[1] != 8 or y.shape[2] != 8:
        raise ValueError(f"boards must be 8x8, got {y.shape[1]}x{y.shape[2]}")
    if m.shape[0] != _TILE_POINTS or m.shape[1] != _TILES_PER_BOARD * y.shape[0] or m.shape[2] != y.shape[3]:
        raise ValueError(f"m must be [36, {_TILES_PER_BOARD * y.shape[0]}, {y.shape[3]}], got "
                         f"[{m.shape[0]}, {m.shape[1]}, {m.shape[2]}]")
    if bias.shape[0] != y.shape[3]:
        raise ValueError(f"bias must have {y.shape[3]} values, got {bias.shape[0]}")
    if residual is not None and (residual.shape[0] != y.shape[0] or residual.shape[1] != 8
                                 or residual.shape[2] != 8 or residual.shape[3] != y.shape[3]):
        raise ValueError("residual must have the shape of y")
    return 0


cdef class _Scratch:
    """Per-call scratch of the transforms (a few KB)."""
    cdef float* data

    def __cinit__(self, Py_ssize_t floats):
        self.data = <float*> malloc(max(floats, 1) * sizeof(float))
        if self.data == NULL:
            raise MemoryError()

    def __dealloc__(self):
        free(self.data)


def input_transform(const float[:, :, :, ::1] x, float[:, :, ::1] v):
    """``V = B^T d B`` for every 6x6 tile of ``x [N, 8, 8, C]`` (zero padded), into ``v [36, 4N, C]``.

    Row ``4n + 2ty + tx`` of ``v`` holds tile (ty, tx) of board n.
    """
    _check_input(x, v)
    if x.shape[0] == 0 or x.shape[3] == 0:
        return
    cdef _Scratch scratch = _Scratch(WINOGRAD_INPUT_SCRATCH * x.shape[3])
    with nogil:
        winograd_input(&x[0, 0, 0, 0], x.shape[0], x.shape[3], &v[0, 0, 0], scratch.data)


def batched_products(const float[:, :, ::1] v, const float[:, :, ::1] u, float[:, :, ::1] m):
    """``m[k] = v[k] @ u[k]`` for each leading index k: ``v [P, R, C]``, ``u [P, C, K]``, ``m [P, R, K]``.

    The 36 products of a Winograd convolution are small (R = 4 rows per board, C and K the channels); a
    register-blocked kernel runs them at least as fast as torch's ``bmm`` (about 29 GMAC/s on one
    core here) and without the GIL.
    """
    _check_products(v, u, m)
    if m.shape[0] == 0 or m.shape[1] == 0 or m.shape[2] == 0:
        return
    if v.shape[2] == 0:
        m[:, :, :] = 0
        return
    with nogil:
        winograd_gemm(&v[0, 0, 0], &u[0, 0, 0], &m[0, 0, 0], v.shape[0], v.shape[1], v.shape[2], u.shape[2])


def output_transform(const float[:, :, ::1] m, const float[::1] bias, float[:, :, :, ::1] y,
                     const float[:, :, :, ::1] residual=None, bint relu=False):
    """``y = A^T M A + bias`` (``+ residual``, then ReLU if asked) from ``m [36, 4N, K]`` into ``y [N, 8, 8, K]``.

    :param residual: None or a ``[N, 8, 8, K]`` float32 array added before the ReLU; it may be
        ``y`` itself (each value is read just before it is overwritten).
    """
    _check_output(m, bias, y, residual)
    if y.shape[0] == 0 or y.shape[3] == 0:
        return
    cdef const float* skip = NULL if residual is None else &residual[0, 0, 0, 0]
    cdef _Scratch scratch = _Scratch(WINOGRAD_OUTPUT_SCRATCH * y.shape[3])
    with nogil:
        winograd_output(&m[0, 0, 0], &bias[0], skip, relu, y.shape[0], y.shape[3], &y[0, 0, 0, 0], scratch.data)


def convolve(const float[:, :, :, ::1] x, const float[:, :, ::1] u, const float[::1] bias, float[:, :, :, ::1] y,
             float[:, :, ::1] v, float[:, :, ::1] m, const float[:, :, :, ::1] residual=None, bint relu=False):
    """A whole 3x3 convolution (padding 1): ``y = conv(x) + bias`` (``+ residual``, ReLU), the three
    steps above in one call that holds the GIL only to check the shapes.

    :param u: transformed weights ``[36, C, K]`` (``G w G^T``).
    :param v: scratch ``[36, 4N, C]`` for the transformed input.
    :param m: scratch ``[36, 4N, K]`` for the products.
    :param residual: as in :func:`output_transform` (may be ``y``).
    """
    _check_input(x, v)
    _check_products(v, u, m)
    _check_output(m, bias, y, residual)
    cdef Py_ssize_t boards = x.shape[0], in_channels = x.shape[3], out_channels = y.shape[3]
    if boards == 0 or out_channels == 0:
        return
    if in_channels == 0:
        m[:, :, :] = 0
        output_transform(m, bias, y, residual, relu)
        return
    cdef const float* skip = NULL if residual is None else &residual[0, 0, 0, 0]
    cdef _Scratch scratch = _Scratch(max(WINOGRAD_INPUT_SCRATCH * in_channels,
                                             WINOGRAD_OUTPUT_SCRATCH * out_channels))
    with nogil:
        winograd_input(&x[0, 0, 0, 0], boards, in_channels, &v[0, 0, 0], scratch.data)
        winograd_gemm(&v[0, 0, 0], &u[0, 0, 0], &m[0, 0, 0], _TILE_POINTS, _TILES_PER_BOARD * boards,
                      in_channels, out_channels)
        winograd_output(&m[0, 0, 0], &bias[0], skip, relu, boards, out_channels, &y[0, 0, 0, 0], scratch.data)


def squeeze_excite(const float[:, :, :, ::1] out, float[:, :, :, ::1] x, const float[:, ::1] squeeze_weight,
                   const float[::1] squeeze_bias, const float[:, ::1] excite_weight, const float[::1] excite_bias):
    """lc0's SE unit and the block's skip add, in place: ``x = relu(sigmoid(gamma) * out + beta + x)``.

    ``(gamma, beta)`` are the two halves of ``excite(relu(squeeze(mean of out over the board)))``;
    ``out`` and ``x`` are ``[N, 8, 8, C]``, ``squeeze_weight [C, S]``, ``excite_weight [S, 2C]``
    (input-major: ``pooled @ squeeze_weight``).
    """
    cdef Py_ssize_t boards = x.shape[0], channels = x.shape[3], squeeze = squeeze_weight.shape[1]
    if (out.shape[0] != boards or out.shape[1] != 8 or out.shape[2] != 8 or out.shape[3] != channels
            or x.shape[1] != 8 or x.shape[2] != 8):
        raise ValueError("out and x must both be [N, 8, 8, C]")
    if (squeeze_weight.shape[0] != channels or squeeze_bias.shape[0] != squeeze or excite_weight.shape[0] != squeeze
            or excite_weight.shape[1] != 2 * channels or excite_bias.shape[0] != 2 * channels):
        raise ValueError(f"SE weights must be [{channels}, S], [S], [S, {2 * channels}], [{2 * channels}]")
    if boards == 0 or channels == 0:
        return
    if &out[0, 0, 0, 0] == &x[0, 0, 0, 0]:
        raise ValueError("out and x must be different arrays")
    cdef _Scratch scratch = _Scratch(3 * channels + squeeze)
    with nogil:
        winograd_se(&out[0, 0, 0, 0], &x[0, 0, 0, 0], &squeeze_weight[0, 0] if squeeze else NULL,
                    &squeeze_bias[0] if squeeze else NULL, &excite_weight[0, 0] if squeeze else NULL,
                    &excite_bias[0], boards, channels, squeeze, scratch.data)
