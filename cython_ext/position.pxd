# cython: language_level=3
"""C-level chess position: bitboards, legal move generation, make/unmake.

This is the API the search cimports. Every function here is ``nogil`` and
touches no Python object, so the MCTS can drive it per node at C speed.

Conventions (the same as python-chess, so tests can compare directly):

* squares are 0..63 with a1 = 0, b1 = 1, ..., h8 = 63;
* colours are WHITE = 0, BLACK = 1 (python-chess uses True for white);
* piece types are PAWN = 1 .. KING = 6; a piece code is ``type | colour << 3``
  and 0 is an empty square;
* a :c:type:`Move` packs ``from | to << 6 | promotion << 12 | kind << 14``
  (the Stockfish layout); castling is stored as *king takes own rook*, which
  covers standard chess and Chess960 with one code path.
"""

from libc.stdint cimport uint64_t, uint16_t, int8_t

ctypedef uint64_t Bitboard
ctypedef uint16_t Move

cdef enum:
    WHITE = 0
    BLACK = 1

    PAWN = 1
    KNIGHT = 2
    BISHOP = 3
    ROOK = 4
    QUEEN = 5
    KING = 6

    NO_SQUARE = 64
    MAX_MOVES = 320

    # Move kinds (bits 14-15) and promotion piece (bits 12-13: N, B, R, Q).
    MOVE_NONE = 0
    MOVE_NORMAL = 0
    MOVE_PROMOTION = 1 << 14
    MOVE_EN_PASSANT = 2 << 14
    MOVE_CASTLING = 3 << 14

    # Castling rights, one bit each; index = bit position.
    WHITE_OO = 1
    WHITE_OOO = 2
    BLACK_OO = 4
    BLACK_OOO = 8

    # Terminal status of a position (see position_status).
    STATUS_ONGOING = 0
    STATUS_CHECKMATE = 1
    STATUS_STALEMATE = 2
    STATUS_INSUFFICIENT_MATERIAL = 3
    STATUS_FIFTY_MOVES = 4
    STATUS_REPETITION = 5


cdef struct StateInfo:
    # Everything make_move changes that unmake_move cannot recompute.
    uint64_t key         # Zobrist key of the position
    int castling         # castling rights bitmask
    int ep_square        # en-passant target, NO_SQUARE unless a legal capture exists
    int halfmove         # plies since the last capture or pawn move
    int repetition       # earlier occurrences of this position (0, 1, 2, ...)
    int captured         # piece code captured by `move` (history entries only)
    Move move            # move played from this position (history entries only)


cdef struct Position:
    Bitboard by_type[7]      # [0] = all pieces, [PAWN..KING] = both colours
    Bitboard by_color[2]
    int8_t board[64]         # piece code per square
    int side                 # colour to move
    int fullmove
    bint chess960            # affects notation only; move generation is uniform
    int castling_rook[4]     # rook square per castling right
    int castling_mask[64]    # rights cleared when a move touches the square
    StateInfo st             # state of the current position
    StateInfo* history       # history[i] = state before the i-th move since the root
    int ply                  # moves made since the position was set up
    int capacity             # allocated length of `history`


# Lifetime.
cdef Position* position_new() noexcept nogil
cdef void position_free(Position* pos) noexcept nogil
cdef int position_copy(Position* dst, const Position* src) noexcept nogil
cdef void position_clear(Position* pos) noexcept nogil
cdef void position_put_piece(Position* pos, int piece, int sq) noexcept nogil
cdef void position_finish_setup(Position* pos) noexcept nogil

# Queries.
cdef Bitboard checkers(const Position* pos) noexcept nogil
cdef bint in_check(const Position* pos) noexcept nogil
cdef int generate_legal(const Position* pos, Move* moves) noexcept nogil
cdef bint has_legal_move(const Position* pos) noexcept nogil
cdef bint insufficient_material(const Position* pos) noexcept nogil
cdef int position_status(const Position* pos, int repetitions_for_draw) noexcept nogil

# Moves.
cdef int make_move(Position* pos, Move m) noexcept nogil
cdef void unmake_move(Position* pos) noexcept nogil
cdef int castling_king_destination(const Position* pos, Move m) noexcept nogil

# Perft.
cdef uint64_t perft(Position* pos, int depth, bint bulk) noexcept nogil

cdef inline int move_from(Move m) noexcept nogil:
    return m & 63

cdef inline int move_to(Move m) noexcept nogil:
    return (m >> 6) & 63

cdef inline int move_kind(Move m) noexcept nogil:
    return m & (3 << 14)

cdef inline int move_promotion(Move m) noexcept nogil:
    """Promotion piece type (KNIGHT..QUEEN); only meaningful for promotions."""
    return ((m >> 12) & 3) + KNIGHT

cdef inline Move make_move_code(int frm, int to, int kind, int promotion) noexcept nogil:
    if kind == MOVE_PROMOTION:
        return <Move>(frm | (to << 6) | ((promotion - KNIGHT) << 12) | kind)
    return <Move>(frm | (to << 6) | kind)


cdef class Board:
    cdef Position* pos
    cdef object __weakref__
    cdef Move _parse_uci(self, str uci) except? 0
