# cython: boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
"""Winograd F(4x4, 3x3) transforms for 3x3 convolutions on 8x8 boards, channels last.

A 3x3 convolution (padding 1) of an 8x8 board is computed on 2x2 output tiles of 4x4 squares,
each read from a 6x6 input tile. With the transforms of Lavin and Gray (2015,
"Fast Algorithms for Convolutional Neural Networks"), a tile costs 36 multiply-adds per
input-output channel pair instead of 144: :func:`input_transform` turns ``[N, 8, 8, C]``
activations into ``V [36, 4N, C]``; 36 matrix products ``V[k] @ U[k]`` with the transformed
weights ``U [36, C, K]`` (done by the caller with one batched GEMM) give ``M [36, 4N, K]``;
:func:`output_transform` turns ``M`` back into ``[N, 8, 8, K]`` and adds the bias, an optional
residual and an optional ReLU on the way. This is how lc0's CPU (BLAS) backend runs its
convolutions; the transforms cost a few per cent of the products, which is what makes the
trade pay on 8x8 boards.

Both functions are C kernels (below) that loop with the channel index innermost over contiguous
memory, so the compiler vectorises them; GCC builds them twice, for AVX2+FMA and for the baseline
(``target_clones``), and the loader picks the one the CPU runs. They release the GIL.
"""

from libc.stdlib cimport free, malloc

cdef extern from *:
    """
    #include <stddef.h>
    #include <math.h>
    #include <string.h>
    #if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && defined(__linux__)
    #define WINOGRAD_CLONES __attribute__((target_clones("arch=haswell", "default")))
    #else
    #define WINOGRAD_CLONES
    #endif
    #define WINOGRAD_INLINE static inline __attribute__((always_inline))

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

    /* x [N, 8, 8, C] -> v [36, 4N, C]; scratch holds 136 * C floats. */
    WINOGRAD_CLONES void winograd_input(const float* restrict x, ptrdiff_t boards, ptrdiff_t channels,
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

    /* m [36, 4N, K] -> y [N, 8, 8, K] = A^T m A + bias (+ residual) (ReLU); scratch holds 40 * K floats.
       residual may be y itself: each value is read just before it is written. */
    WINOGRAD_CLONES void winograd_output(const float* restrict m, const float* restrict bias,
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
    """
    void winograd_input(const float* x, Py_ssize_t boards, Py_ssize_t channels, float* v,
                        float* scratch) noexcept nogil
    void winograd_output(const float* m, const float* bias, const float* residual, int relu,
                         Py_ssize_t boards, Py_ssize_t channels, float* y, float* scratch) noexcept nogil

cdef enum:
    _TILE_POINTS = 36
    _TILES_PER_BOARD = 4

TILE_POINTS = _TILE_POINTS
"""Points of a 6x6 input tile: the leading dimension of ``V``, ``U`` and ``M``."""
TILES_PER_BOARD = _TILES_PER_BOARD
"""Output tiles (4x4 squares) of a board: ``V`` and ``M`` have ``4N`` rows."""


def input_transform(const float[:, :, :, ::1] x, float[:, :, ::1] v):
    """``V = B^T d B`` for every 6x6 tile of ``x [N, 8, 8, C]`` (zero padded), into ``v [36, 4N, C]``.

    Row ``4n + 2ty + tx`` of ``v`` holds tile (ty, tx) of board n.
    """
    cdef Py_ssize_t boards = x.shape[0], channels = x.shape[3]
    if x.shape[1] != 8 or x.shape[2] != 8:
        raise ValueError(f"boards must be 8x8, got {x.shape[1]}x{x.shape[2]}")
    if v.shape[0] != _TILE_POINTS or v.shape[1] != _TILES_PER_BOARD * boards or v.shape[2] != channels:
        raise ValueError(f"v must be [36, {_TILES_PER_BOARD * boards}, {channels}], got "
                         f"[{v.shape[0]}, {v.shape[1]}, {v.shape[2]}]")
    if boards == 0 or channels == 0:
        return
    cdef float* scratch = <float*> malloc(136 * channels * sizeof(float))
    if scratch == NULL:
        raise MemoryError()
    with nogil:
        winograd_input(&x[0, 0, 0, 0], boards, channels, &v[0, 0, 0], scratch)
    free(scratch)


def output_transform(const float[:, :, ::1] m, const float[::1] bias, float[:, :, :, ::1] y,
                     const float[:, :, :, ::1] residual=None, bint relu=False):
    """``y = A^T M A + bias`` (``+ residual``, then ReLU if asked) from ``m [36, 4N, K]`` into ``y [N, 8, 8, K]``.

    :param residual: None or a ``[N, 8, 8, K]`` float32 array added before the ReLU; it may be
        ``y`` itself (each value is read just before it is overwritten).
    """
    cdef Py_ssize_t boards = y.shape[0], channels = y.shape[3]
    if y.shape[1] != 8 or y.shape[2] != 8:
        raise ValueError(f"boards must be 8x8, got {y.shape[1]}x{y.shape[2]}")
    if m.shape[0] != _TILE_POINTS or m.shape[1] != _TILES_PER_BOARD * boards or m.shape[2] != channels:
        raise ValueError(f"m must be [36, {_TILES_PER_BOARD * boards}, {channels}], got "
                         f"[{m.shape[0]}, {m.shape[1]}, {m.shape[2]}]")
    if bias.shape[0] != channels:
        raise ValueError(f"bias must have {channels} values, got {bias.shape[0]}")
    if residual is not None and (residual.shape[0] != boards or residual.shape[1] != 8
                                 or residual.shape[2] != 8 or residual.shape[3] != channels):
        raise ValueError("residual must have the shape of y")
    if boards == 0 or channels == 0:
        return
    cdef const float* skip = NULL if residual is None else &residual[0, 0, 0, 0]
    cdef float* scratch = <float*> malloc(40 * channels * sizeof(float))
    if scratch == NULL:
        raise MemoryError()
    with nogil:
        winograd_output(&m[0, 0, 0], &bias[0], skip, relu, boards, channels, &y[0, 0, 0, 0], scratch)
    free(scratch)
