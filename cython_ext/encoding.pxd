# cython: language_level=3
"""C-level lc0-compatible network encoding (input planes and policy index)."""

from cython_ext.position cimport Position, Move

cdef enum:
    INPUT_PLANES = 112
    POLICY_SIZE = 1858
    HISTORY_POSITIONS = 8
    PLANES_PER_POSITION = 13

cdef int move_policy_index(const Position* pos, Move m) noexcept nogil
cdef void encode_position(const Position* pos, float* out) noexcept nogil
