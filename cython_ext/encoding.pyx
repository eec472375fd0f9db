# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
"""lc0-compatible network input (112 planes) and policy index (1858 moves).

Input planes (``INPUT_PLANES`` x 8 x 8, float32, square index = rank * 8 + file
after flipping so that the side to move plays up the board):

====================  =======================================================
planes                content
====================  =======================================================
13*h + 0 .. 13*h + 5  our P, N, B, R, Q, K, ``h`` plies ago (h = 0..7)
13*h + 6 .. 13*h + 11 their P, N, B, R, Q, K, ``h`` plies ago
13*h + 12             all ones if that position occurred before (repetition)
104, 105              we may castle queenside, kingside (all ones / zeros)
106, 107              they may castle queenside, kingside
108                   all ones if black is to move
109                   halfmove clock / 99 (lc0's rule-50 scaling)
110                   zeros (was the move count)
111                   all ones (lets convolutions see the board edge)
====================  =======================================================

"Our" means the side to move at the current position for *every* history
slot, and every slot is flipped the same way (ranks mirrored when black is to
move), exactly as lc0's classical 112-plane format.

History fill (lc0 ``FEN_ONLY``): when fewer than 8 positions are known, the
missing slots repeat the oldest known position, unless that position is the
standard starting array, in which case they stay zero.

Policy: the 1858 moves of lc0's ``policy_index`` -- every queen-line or
knight move from each square (a1 first, destinations in square order), then
the 66 pawn promotions to queen, rook and bishop from the 7th rank. A pawn
move to the last rank without suffix is the *knight* promotion. Castling is
king-takes-rook (``e1h1``). Moves are flipped like the planes when black is to
move.

>>> from cython_ext.position import Board
>>> board = Board()
>>> encode(board).shape
(112, 8, 8)
>>> POLICY_MOVES[policy_index(board, "e2e4")]
'e2e4'
"""

import numpy as np
cimport numpy as cnp
from libc.string cimport memset

from cython_ext.position cimport (
    Board, Position, Move, Bitboard, generate_legal, unmake_move, move_from, move_to,
    move_kind, move_promotion, WHITE, BLACK, PAWN, KNIGHT, BISHOP, ROOK, QUEEN, KING,
    MOVE_PROMOTION, MAX_MOVES, WHITE_OO, WHITE_OOO, BLACK_OO, BLACK_OOO,
)

cnp.import_array()

cdef extern from *:
    """
    static inline int enc_lsb(unsigned long long b) { return __builtin_ctzll(b); }
    """
    int enc_lsb(unsigned long long b) noexcept nogil

NUM_INPUT_PLANES = INPUT_PLANES
NUM_POLICY_MOVES = POLICY_SIZE

_FILES = "abcdefgh"
_QUEEN_DIRECTIONS = ((0, 1), (1, 1), (1, 0), (1, -1), (0, -1), (-1, -1), (-1, 0), (-1, 1))
_KNIGHT_DIRECTIONS = ((1, 2), (2, 1), (2, -1), (1, -2), (-1, -2), (-2, -1), (-2, 1), (-1, 2))
CONV_POLICY_PLANES = 80
"""Channels of lc0's convolutional policy head; 73 are used (see :func:`conv_policy_gather`)."""


def _square_name(sq: int) -> str:
    return _FILES[sq % 8] + str(sq // 8 + 1)


def _build_policy_moves() -> tuple:
    moves = []
    for frm in range(64):
        f0, r0 = frm % 8, frm // 8
        for to in range(64):
            df, dr = to % 8 - f0, to // 8 - r0
            if (df, dr) == (0, 0):
                continue
            if df == 0 or dr == 0 or abs(df) == abs(dr) or {abs(df), abs(dr)} == {1, 2}:
                moves.append(_square_name(frm) + _square_name(to))
    for f0 in range(8):
        for df in (-1, 0, 1):
            if 0 <= f0 + df < 8:
                for piece in "qrb":
                    moves.append(f"{_FILES[f0]}7{_FILES[f0 + df]}8{piece}")
    return tuple(moves)


POLICY_MOVES = _build_policy_moves()
"""The 1858 policy moves in lc0 order, from white's point of view."""
assert len(POLICY_MOVES) == POLICY_SIZE
_POLICY_LOOKUP = {m: i for i, m in enumerate(POLICY_MOVES)}

cdef short FROM_TO_INDEX[64][64]
cdef short PROMOTION_INDEX[8][3][3]  # [from file][to file - from file + 1][Q, R, B]


cdef void _init_policy_tables():
    cdef int frm, to, df, p
    for frm in range(64):
        for to in range(64):
            FROM_TO_INDEX[frm][to] = _POLICY_LOOKUP.get(_square_name(frm) + _square_name(to), -1)
    for frm in range(8):
        for df in range(3):
            for p in range(3):
                PROMOTION_INDEX[frm][df][p] = _POLICY_LOOKUP.get(
                    f"{_FILES[frm]}7{_FILES[min(max(frm + df - 1, 0), 7)]}8{'qrb'[p]}", -1)


_init_policy_tables()


def conv_policy_gather() -> np.ndarray:
    """Indices into a flattened 80x8x8 convolutional policy output, one per policy move.

    ``logits_1858 = conv_out.flatten(1)[:, conv_policy_gather()]`` reproduces lc0's
    ``POLICY_CONVOLUTION`` head: planes 0-55 are queen-line moves (direction N, NE, E,
    SE, S, SW, W, NW, then distance 1-7), 56-63 knight moves, 64-72 promotions
    (towards NW, N, NE; each to rook, bishop, queen), 73-79 unused.
    """
    gather = np.full(POLICY_SIZE, -1, dtype=np.int64)
    plane = 0
    for df, dr in _QUEEN_DIRECTIONS:
        for steps in range(1, 8):
            _fill_plane(gather, plane, df * steps, dr * steps, "")
            plane += 1
    for df, dr in _KNIGHT_DIRECTIONS:
        _fill_plane(gather, plane, df, dr, "")
        plane += 1
    for df in (-1, 0, 1):
        for piece in "rbq":
            _fill_plane(gather, plane, df, 1, piece)
            plane += 1
    assert (gather >= 0).all()
    return gather


def _fill_plane(gather, plane, df, dr, piece):
    for sq in range(64):
        f1, r1 = sq % 8 + df, sq // 8 + dr
        if piece and sq // 8 != 6:
            continue
        if 0 <= f1 < 8 and 0 <= r1 < 8:
            index = _POLICY_LOOKUP.get(_square_name(sq) + _square_name(r1 * 8 + f1) + piece)
            if index is not None:
                gather[index] = plane * 64 + sq


cdef int move_policy_index(const Position* pos, Move m) noexcept nogil:
    """Policy index of a legal move, from the side to move's point of view."""
    cdef int frm = move_from(m), to = move_to(m), promo
    if pos.side == BLACK:
        frm ^= 56
        to ^= 56
    if move_kind(m) == MOVE_PROMOTION:
        promo = move_promotion(m)
        if promo != KNIGHT:
            return PROMOTION_INDEX[frm & 7][(to & 7) - (frm & 7) + 1][QUEEN - promo]
    return FROM_TO_INDEX[frm][to]


cdef inline void _fill_bits(float* plane, Bitboard b, int flip) noexcept nogil:
    while b:
        plane[enc_lsb(b) ^ flip] = 1.0
        b &= b - 1


cdef inline void _fill_plane_value(float* plane, float value) noexcept nogil:
    cdef int i
    for i in range(64):
        plane[i] = value


cdef bint _is_start_array(const Position* pos) noexcept nogil:
    return (pos.by_color[WHITE] == 0xFFFFULL and pos.by_color[BLACK] == 0xFFFFULL << 48
            and pos.by_type[PAWN] == 0x00FF00000000FF00ULL
            and pos.by_type[KNIGHT] == 0x4200000000000042ULL
            and pos.by_type[BISHOP] == 0x2400000000000024ULL
            and pos.by_type[ROOK] == 0x8100000000000081ULL
            and pos.by_type[QUEEN] == 0x0800000000000008ULL
            and pos.by_type[KING] == 0x1000000000000010ULL)


cdef void encode_position(const Position* pos, float* out) noexcept nogil:
    """Write the 112 x 64 input planes of ``pos`` into ``out`` (see module docs)."""
    cdef Position walk = pos[0]  # shallow copy: unmake_move only reads the shared history
    cdef int us = pos.side, them = us ^ 1
    cdef int flip = 56 if us == BLACK else 0
    cdef int h, pt
    cdef float* base
    memset(out, 0, INPUT_PLANES * 64 * sizeof(float))
    for h in range(HISTORY_POSITIONS):
        if h > 0:
            if walk.ply > 0:
                unmake_move(&walk)
            elif _is_start_array(&walk):
                break
        base = out + h * PLANES_PER_POSITION * 64
        for pt in range(PAWN, KING + 1):
            _fill_bits(base + (pt - 1) * 64, walk.by_type[pt] & walk.by_color[us], flip)
            _fill_bits(base + (pt + 5) * 64, walk.by_type[pt] & walk.by_color[them], flip)
        if walk.st.repetition >= 1:
            _fill_plane_value(base + 12 * 64, 1.0)
    base = out + HISTORY_POSITIONS * PLANES_PER_POSITION * 64
    if pos.st.castling & (WHITE_OOO if us == WHITE else BLACK_OOO):
        _fill_plane_value(base, 1.0)
    if pos.st.castling & (WHITE_OO if us == WHITE else BLACK_OO):
        _fill_plane_value(base + 64, 1.0)
    if pos.st.castling & (BLACK_OOO if us == WHITE else WHITE_OOO):
        _fill_plane_value(base + 2 * 64, 1.0)
    if pos.st.castling & (BLACK_OO if us == WHITE else WHITE_OO):
        _fill_plane_value(base + 3 * 64, 1.0)
    if us == BLACK:
        _fill_plane_value(base + 4 * 64, 1.0)
    _fill_plane_value(base + 5 * 64, pos.st.halfmove / 99.0)
    _fill_plane_value(base + 7 * 64, 1.0)


# ---------------------------------------------------------------------------
# Python API
# ---------------------------------------------------------------------------

def encode(Board board, out=None) -> np.ndarray:
    """Input planes of ``board`` as a float32 array of shape (112, 8, 8).

    ``out``, if given, must be a C-contiguous float32 array of that shape (or a
    slice of a batch) and is filled in place.
    """
    if out is None:
        out = np.empty((INPUT_PLANES, 8, 8), dtype=np.float32)
    cdef float[:, :, ::1] view = out
    if view.shape[0] != INPUT_PLANES or view.shape[1] != 8 or view.shape[2] != 8:
        raise ValueError(f"output must have shape (112, 8, 8), not {tuple(out.shape)}")
    encode_position(board.pos, &view[0, 0, 0])
    return out


def encode_batch(boards, out=None) -> np.ndarray:
    """Encode a sequence of boards into an (N, 112, 8, 8) float32 array."""
    cdef Py_ssize_t n = len(boards), i
    if out is None:
        out = np.empty((n, INPUT_PLANES, 8, 8), dtype=np.float32)
    cdef float[:, :, :, ::1] view = out
    if view.shape[0] < n or view.shape[1] != INPUT_PLANES:
        raise ValueError(f"output of shape {tuple(out.shape)} cannot hold {n} positions")
    cdef Board board
    for i in range(n):
        board = boards[i]
        encode_position(board.pos, &view[i, 0, 0, 0])
    return out


def policy_index(Board board, str uci) -> int:
    """Policy index (0..1857) of a legal move given in UCI notation."""
    moves, indices = legal_policy(board)
    if uci not in moves:
        raise ValueError(f"illegal move {uci} in {board.fen()}")
    return int(indices[moves.index(uci)])


def legal_policy(Board board):
    """``(moves, indices)``: the legal moves (UCI) and their policy indices (int64 array)."""
    cdef Move moves[MAX_MOVES]
    cdef int n = generate_legal(board.pos, moves), i
    indices = np.empty(n, dtype=np.int64)
    cdef long long[::1] view = indices
    for i in range(n):
        view[i] = move_policy_index(board.pos, moves[i])
    return board.legal_moves, indices
