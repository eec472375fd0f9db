# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
"""Bitboard chess position with legal move generation (standard and Chess960).

The C-level half (see ``position.pxd``) is what the search uses. The Python
half is :class:`Board`, a small wrapper for tools, the UCI front end and tests.

>>> from cython_ext.position import Board
>>> board = Board()
>>> board.push_uci("e2e4")
>>> board.fen()
'rnbqkbnr/pppppppp/8/8/4P3/8/PPPP1PPP/RNBQKBNR b KQkq - 0 1'
>>> len(board.legal_moves)
20
>>> board.perft(3)
13160

Sliding attacks use "fancy" magic bitboards whose magics are found at import
time by a deterministic search (a few milliseconds), so no magic constants
need to be trusted.

Why one module of ~1,200 lines: the attack tables, move generation, make/unmake and
the Zobrist keys call each other through ``cdef inline`` functions in the hot loops
(perft, the search's expansion). Cython inlines those only within one module; split
across modules they would become calls through a C function-pointer table.
"""

from libc.stdint cimport uint64_t, int8_t
from libc.stdlib cimport malloc, realloc, free
from libc.string cimport memcpy, memset

cdef extern from *:
    """
    static inline int bb_lsb(unsigned long long b) { return __builtin_ctzll(b); }
    static inline int bb_popcount(unsigned long long b) { return __builtin_popcountll(b); }
    """
    int bb_lsb(unsigned long long b) noexcept nogil
    int bb_popcount(unsigned long long b) noexcept nogil

# ---------------------------------------------------------------------------
# Constants and tables
# ---------------------------------------------------------------------------

STARTING_FEN = "rnbqkbnr/pppppppp/8/8/8/8/PPPPPPPP/RNBQKBNR w KQkq - 0 1"
SQUARE_NAMES = [f + r for r in "12345678" for f in "abcdefgh"]
PIECE_SYMBOLS = " pnbrqk"

cdef Bitboard FILE_A_BB = 0x0101010101010101ULL
cdef Bitboard FILE_H_BB = FILE_A_BB << 7
cdef Bitboard RANK_1_BB = 0xFFULL
cdef Bitboard RANK_8_BB = 0xFFULL << 56
cdef Bitboard DARK_SQUARES = 0xAA55AA55AA55AA55ULL

cdef Bitboard KNIGHT_ATTACKS[64]
cdef Bitboard KING_ATTACKS[64]
cdef Bitboard PAWN_ATTACKS[2][64]
cdef Bitboard BETWEEN[64][64]   # squares strictly between two aligned squares
cdef Bitboard LINE[64][64]      # whole line through two aligned squares
cdef Bitboard ROOK_RAYS[64]     # empty-board rook attacks
cdef Bitboard BISHOP_RAYS[64]   # empty-board bishop attacks

cdef struct Magic:
    Bitboard mask
    Bitboard magic
    int shift
    int offset

cdef Magic ROOK_MAGICS[64]
cdef Magic BISHOP_MAGICS[64]
cdef Bitboard ROOK_TABLE[102400]
cdef Bitboard BISHOP_TABLE[5248]

cdef uint64_t PIECE_KEYS[16][64]
cdef uint64_t CASTLING_KEYS[16]
cdef uint64_t EP_KEYS[8]
cdef uint64_t SIDE_KEY

cdef int ROOK_DIRS[4][2]
cdef int BISHOP_DIRS[4][2]


cdef inline Bitboard sq_bb(int sq) noexcept nogil:
    return (<Bitboard>1) << sq


cdef inline Bitboard rook_attacks(int sq, Bitboard occ) noexcept nogil:
    cdef Magic* m = &ROOK_MAGICS[sq]
    return ROOK_TABLE[m.offset + <int>(((occ & m.mask) * m.magic) >> m.shift)]


cdef inline Bitboard bishop_attacks(int sq, Bitboard occ) noexcept nogil:
    cdef Magic* m = &BISHOP_MAGICS[sq]
    return BISHOP_TABLE[m.offset + <int>(((occ & m.mask) * m.magic) >> m.shift)]


cdef uint64_t _rng_state = 0x9E3779B97F4A7C15ULL

cdef uint64_t _rand64() noexcept nogil:
    # xorshift64*: deterministic, so Zobrist keys and magics are identical on every run.
    global _rng_state
    _rng_state ^= _rng_state >> 12
    _rng_state ^= _rng_state << 25
    _rng_state ^= _rng_state >> 27
    return _rng_state * 2685821657736338717ULL


cdef Bitboard _slide(int sq, Bitboard occ, int dirs[4][2]) noexcept nogil:
    cdef Bitboard result = 0
    cdef int d, f, r
    for d in range(4):
        f = sq & 7
        r = sq >> 3
        while True:
            f += dirs[d][0]
            r += dirs[d][1]
            if f < 0 or f > 7 or r < 0 or r > 7:
                break
            result |= sq_bb(r * 8 + f)
            if occ & sq_bb(r * 8 + f):
                break
    return result


cdef int _init_magics(Magic* magics, Bitboard* table, int dirs[4][2]) noexcept nogil:
    cdef Bitboard occupancy[4096]
    cdef Bitboard reference[4096]
    cdef int epoch[4096]
    cdef int sq, size, i, idx, attempt = 0, offset = 0
    cdef Bitboard edges, b, magic
    cdef bint ok
    memset(epoch, 0, sizeof(epoch))
    for sq in range(64):
        edges = ((RANK_1_BB | RANK_8_BB) & ~(RANK_1_BB << (8 * (sq >> 3)))) | \
                ((FILE_A_BB | FILE_H_BB) & ~(FILE_A_BB << (sq & 7)))
        magics[sq].mask = _slide(sq, 0, dirs) & ~edges
        magics[sq].shift = 64 - bb_popcount(magics[sq].mask)
        magics[sq].offset = offset
        size = 0
        b = 0
        while True:  # Carry-Rippler enumeration of all subsets of the mask
            occupancy[size] = b
            reference[size] = _slide(sq, b, dirs)
            size += 1
            b = (b - magics[sq].mask) & magics[sq].mask
            if b == 0:
                break
        while True:
            magic = _rand64() & _rand64() & _rand64()
            if bb_popcount((magic * magics[sq].mask) >> 56) < 6:
                continue
            attempt += 1
            ok = True
            for i in range(size):
                idx = <int>((occupancy[i] * magic) >> magics[sq].shift)
                if epoch[idx] < attempt:
                    epoch[idx] = attempt
                    table[offset + idx] = reference[i]
                elif table[offset + idx] != reference[i]:
                    ok = False
                    break
            if ok:
                break
        magics[sq].magic = magic
        offset += size
    return offset


cdef void _init_tables() noexcept nogil:
    global SIDE_KEY
    cdef int sq, s2, f, r, i, c, p
    cdef int knight_d[8][2]
    cdef int king_d[8][2]
    knight_d[:] = [[1, 2], [2, 1], [2, -1], [1, -2], [-1, -2], [-2, -1], [-2, 1], [-1, 2]]
    king_d[:] = [[1, 0], [1, 1], [0, 1], [-1, 1], [-1, 0], [-1, -1], [0, -1], [1, -1]]
    ROOK_DIRS[:] = [[1, 0], [-1, 0], [0, 1], [0, -1]]
    BISHOP_DIRS[:] = [[1, 1], [1, -1], [-1, 1], [-1, -1]]
    for sq in range(64):
        KNIGHT_ATTACKS[sq] = 0
        KING_ATTACKS[sq] = 0
        for i in range(8):
            f = (sq & 7) + knight_d[i][0]
            r = (sq >> 3) + knight_d[i][1]
            if 0 <= f < 8 and 0 <= r < 8:
                KNIGHT_ATTACKS[sq] |= sq_bb(r * 8 + f)
            f = (sq & 7) + king_d[i][0]
            r = (sq >> 3) + king_d[i][1]
            if 0 <= f < 8 and 0 <= r < 8:
                KING_ATTACKS[sq] |= sq_bb(r * 8 + f)
        PAWN_ATTACKS[WHITE][sq] = 0
        PAWN_ATTACKS[BLACK][sq] = 0
        f = sq & 7
        r = sq >> 3
        if r < 7:
            if f > 0:
                PAWN_ATTACKS[WHITE][sq] |= sq_bb(sq + 7)
            if f < 7:
                PAWN_ATTACKS[WHITE][sq] |= sq_bb(sq + 9)
        if r > 0:
            if f > 0:
                PAWN_ATTACKS[BLACK][sq] |= sq_bb(sq - 9)
            if f < 7:
                PAWN_ATTACKS[BLACK][sq] |= sq_bb(sq - 7)
        ROOK_RAYS[sq] = _slide(sq, 0, ROOK_DIRS)
        BISHOP_RAYS[sq] = _slide(sq, 0, BISHOP_DIRS)
    for sq in range(64):
        for s2 in range(64):
            BETWEEN[sq][s2] = 0
            LINE[sq][s2] = 0
            if sq == s2:
                continue
            if ROOK_RAYS[sq] & sq_bb(s2):
                LINE[sq][s2] = (_slide(sq, 0, ROOK_DIRS) & _slide(s2, 0, ROOK_DIRS)) | sq_bb(sq) | sq_bb(s2)
                BETWEEN[sq][s2] = _slide(sq, sq_bb(s2), ROOK_DIRS) & _slide(s2, sq_bb(sq), ROOK_DIRS)
            elif BISHOP_RAYS[sq] & sq_bb(s2):
                LINE[sq][s2] = (_slide(sq, 0, BISHOP_DIRS) & _slide(s2, 0, BISHOP_DIRS)) | sq_bb(sq) | sq_bb(s2)
                BETWEEN[sq][s2] = _slide(sq, sq_bb(s2), BISHOP_DIRS) & _slide(s2, sq_bb(sq), BISHOP_DIRS)
    # LINE: the rays of two aligned squares (same piece kind) meet only on their shared line.
    _init_magics(ROOK_MAGICS, ROOK_TABLE, ROOK_DIRS)
    _init_magics(BISHOP_MAGICS, BISHOP_TABLE, BISHOP_DIRS)
    for p in range(16):
        for sq in range(64):
            PIECE_KEYS[p][sq] = _rand64()
    for c in range(16):
        CASTLING_KEYS[c] = 0
    for i in range(4):
        CASTLING_KEYS[1 << i] = _rand64()
    for c in range(16):
        for i in range(4):
            if c & (1 << i) and c != (1 << i):
                CASTLING_KEYS[c] ^= CASTLING_KEYS[1 << i]
    for i in range(8):
        EP_KEYS[i] = _rand64()
    SIDE_KEY = _rand64()


_init_tables()

# ---------------------------------------------------------------------------
# Piece placement
# ---------------------------------------------------------------------------

cdef inline void _put(Position* pos, int piece, int sq) noexcept nogil:
    cdef Bitboard b = sq_bb(sq)
    pos.board[sq] = piece
    pos.by_type[0] |= b
    pos.by_type[piece & 7] |= b
    pos.by_color[piece >> 3] |= b


cdef inline void _remove(Position* pos, int sq) noexcept nogil:
    cdef Bitboard b = sq_bb(sq)
    cdef int piece = pos.board[sq]
    pos.board[sq] = 0
    pos.by_type[0] ^= b
    pos.by_type[piece & 7] ^= b
    pos.by_color[piece >> 3] ^= b


cdef inline void _move(Position* pos, int frm, int to) noexcept nogil:
    cdef Bitboard b = sq_bb(frm) | sq_bb(to)
    cdef int piece = pos.board[frm]
    pos.board[frm] = 0
    pos.board[to] = piece
    pos.by_type[0] ^= b
    pos.by_type[piece & 7] ^= b
    pos.by_color[piece >> 3] ^= b


cdef Position* position_new() noexcept nogil:
    cdef Position* pos = <Position*>malloc(sizeof(Position))
    if pos == NULL:
        return NULL
    pos.capacity = 256
    pos.history = <StateInfo*>malloc(pos.capacity * sizeof(StateInfo))
    if pos.history == NULL:
        free(pos)
        return NULL
    position_clear(pos)
    return pos


cdef void position_free(Position* pos) noexcept nogil:
    if pos != NULL:
        free(pos.history)
        free(pos)


cdef int position_copy(Position* dst, const Position* src) noexcept nogil:
    """Deep copy (history included). Returns -1 when memory runs out."""
    cdef StateInfo* history = dst.history
    cdef int capacity = dst.capacity
    if capacity < src.ply + 1:
        capacity = src.capacity
        history = <StateInfo*>realloc(history, capacity * sizeof(StateInfo))
        if history == NULL:
            return -1
    memcpy(dst, src, sizeof(Position))
    dst.history = history
    dst.capacity = capacity
    memcpy(dst.history, src.history, src.ply * sizeof(StateInfo))
    return 0


cdef void position_clear(Position* pos) noexcept nogil:
    cdef int i
    for i in range(7):
        pos.by_type[i] = 0
    pos.by_color[0] = 0
    pos.by_color[1] = 0
    for i in range(64):
        pos.board[i] = 0
        pos.castling_mask[i] = 15
    for i in range(4):
        pos.castling_rook[i] = NO_SQUARE
    pos.side = WHITE
    pos.fullmove = 1
    pos.chess960 = False
    pos.ply = 0
    memset(&pos.st, 0, sizeof(StateInfo))
    pos.st.ep_square = NO_SQUARE


cdef void position_put_piece(Position* pos, int piece, int sq) noexcept nogil:
    _put(pos, piece, sq)


cdef void position_finish_setup(Position* pos) noexcept nogil:
    """Derive castling masks and the Zobrist key after pieces, side, rights are set."""
    cdef int i, c, ksq
    cdef uint64_t key = 0
    for i in range(64):
        pos.castling_mask[i] = 15
    for i in range(4):
        if pos.st.castling & (1 << i):
            c = i >> 1
            ksq = bb_lsb(pos.by_type[KING] & pos.by_color[c])
            pos.castling_mask[ksq] &= ~(3 << (2 * c))
            pos.castling_mask[pos.castling_rook[i]] &= ~(1 << i)
    for i in range(64):
        if pos.board[i]:
            key ^= PIECE_KEYS[pos.board[i]][i]
    key ^= CASTLING_KEYS[pos.st.castling]
    if pos.st.ep_square != NO_SQUARE:
        key ^= EP_KEYS[pos.st.ep_square & 7]
    if pos.side == BLACK:
        key ^= SIDE_KEY
    pos.st.key = key
    pos.st.repetition = 0


# ---------------------------------------------------------------------------
# Attacks
# ---------------------------------------------------------------------------

cdef inline Bitboard _attackers_to(const Position* pos, int sq, Bitboard occ) noexcept nogil:
    return ((PAWN_ATTACKS[BLACK][sq] & pos.by_color[WHITE] & pos.by_type[PAWN])
            | (PAWN_ATTACKS[WHITE][sq] & pos.by_color[BLACK] & pos.by_type[PAWN])
            | (KNIGHT_ATTACKS[sq] & pos.by_type[KNIGHT])
            | (bishop_attacks(sq, occ) & (pos.by_type[BISHOP] | pos.by_type[QUEEN]))
            | (rook_attacks(sq, occ) & (pos.by_type[ROOK] | pos.by_type[QUEEN]))
            | (KING_ATTACKS[sq] & pos.by_type[KING]))


cdef inline bint _attacked_by(const Position* pos, int sq, Bitboard occ, int color) noexcept nogil:
    cdef Bitboard them = pos.by_color[color]
    if PAWN_ATTACKS[color ^ 1][sq] & pos.by_type[PAWN] & them:
        return True
    if KNIGHT_ATTACKS[sq] & pos.by_type[KNIGHT] & them:
        return True
    if KING_ATTACKS[sq] & pos.by_type[KING] & them:
        return True
    if bishop_attacks(sq, occ) & (pos.by_type[BISHOP] | pos.by_type[QUEEN]) & them:
        return True
    if rook_attacks(sq, occ) & (pos.by_type[ROOK] | pos.by_type[QUEEN]) & them:
        return True
    return False


cdef inline int _king_square(const Position* pos, int color) noexcept nogil:
    return bb_lsb(pos.by_type[KING] & pos.by_color[color])


cdef Bitboard checkers(const Position* pos) noexcept nogil:
    cdef int ksq = _king_square(pos, pos.side)
    return _attackers_to(pos, ksq, pos.by_type[0]) & pos.by_color[pos.side ^ 1]


cdef bint in_check(const Position* pos) noexcept nogil:
    return checkers(pos) != 0


# ---------------------------------------------------------------------------
# Legal move generation
# ---------------------------------------------------------------------------

cdef inline int _add_targets(Move* moves, int n, int frm, Bitboard targets) noexcept nogil:
    while targets:
        moves[n] = <Move>(frm | (bb_lsb(targets) << 6))
        n += 1
        targets &= targets - 1
    return n


cdef inline void _castling_targets(int ksq, int rsq, int* kto, int* rto) noexcept nogil:
    """Destinations of a castling king (on ksq) and rook (on rsq): g/f or c/d files, in Chess960 too."""
    cdef int back = ksq & 56
    kto[0] = back + (6 if rsq > ksq else 2)
    rto[0] = back + (5 if rsq > ksq else 3)


cdef int generate_legal(const Position* pos, Move* moves) noexcept nogil:
    """Fill ``moves`` with every legal move; return how many."""
    cdef int us = pos.side
    cdef int them = us ^ 1
    cdef Bitboard occ = pos.by_type[0]
    cdef Bitboard ours = pos.by_color[us]
    cdef Bitboard theirs = pos.by_color[them]
    cdef int ksq = _king_square(pos, us)
    cdef Bitboard chk = _attackers_to(pos, ksq, occ) & theirs
    cdef Bitboard occ_no_king = occ ^ sq_bb(ksq)
    cdef Bitboard b, t, target, pinned, snipers, blockers, promo_rank, start_rank
    cdef int n = 0, frm, to, s, up, ep, capsq, right, rsq, kto, rto, p
    cdef Bitboard occ2, path, occ_final

    # King steps: never into an attacked square (king removed so it cannot hide behind itself).
    b = KING_ATTACKS[ksq] & ~ours
    while b:
        to = bb_lsb(b)
        b &= b - 1
        if not _attacked_by(pos, to, occ_no_king, them):
            moves[n] = <Move>(ksq | (to << 6))
            n += 1
    if chk & (chk - 1):
        return n  # double check: only the king may move

    pinned = 0
    snipers = ((ROOK_RAYS[ksq] & (pos.by_type[ROOK] | pos.by_type[QUEEN]))
               | (BISHOP_RAYS[ksq] & (pos.by_type[BISHOP] | pos.by_type[QUEEN]))) & theirs
    while snipers:
        s = bb_lsb(snipers)
        snipers &= snipers - 1
        blockers = BETWEEN[ksq][s] & occ
        if blockers and not (blockers & (blockers - 1)) and (blockers & ours):
            pinned |= blockers

    if chk:
        target = BETWEEN[ksq][bb_lsb(chk)] | chk
    else:
        target = ~ours

    b = pos.by_type[KNIGHT] & ours & ~pinned
    while b:
        frm = bb_lsb(b)
        b &= b - 1
        n = _add_targets(moves, n, frm, KNIGHT_ATTACKS[frm] & target)

    b = (pos.by_type[BISHOP] | pos.by_type[QUEEN]) & ours
    while b:
        frm = bb_lsb(b)
        b &= b - 1
        t = bishop_attacks(frm, occ) & target
        if pinned & sq_bb(frm):
            t &= LINE[ksq][frm]
        n = _add_targets(moves, n, frm, t)

    b = (pos.by_type[ROOK] | pos.by_type[QUEEN]) & ours
    while b:
        frm = bb_lsb(b)
        b &= b - 1
        t = rook_attacks(frm, occ) & target
        if pinned & sq_bb(frm):
            t &= LINE[ksq][frm]
        n = _add_targets(moves, n, frm, t)

    if us == WHITE:
        up = 8
        promo_rank = RANK_8_BB
        start_rank = RANK_1_BB << 8
    else:
        up = -8
        promo_rank = RANK_1_BB
        start_rank = RANK_8_BB >> 8
    b = pos.by_type[PAWN] & ours
    while b:
        frm = bb_lsb(b)
        b &= b - 1
        t = 0
        if not (occ & sq_bb(frm + up)):
            t = sq_bb(frm + up)
            if (start_rank & sq_bb(frm)) and not (occ & sq_bb(frm + 2 * up)):
                t |= sq_bb(frm + 2 * up)
        t |= PAWN_ATTACKS[us][frm] & theirs
        t &= target
        if pinned & sq_bb(frm):
            t &= LINE[ksq][frm]
        while t:
            to = bb_lsb(t)
            t &= t - 1
            if sq_bb(to) & promo_rank:
                for p in range(QUEEN, KNIGHT - 1, -1):
                    moves[n] = make_move_code(frm, to, MOVE_PROMOTION, p)
                    n += 1
            else:
                moves[n] = <Move>(frm | (to << 6))
                n += 1

    ep = pos.st.ep_square
    if ep != NO_SQUARE:
        capsq = ep - up
        b = PAWN_ATTACKS[them][ep] & pos.by_type[PAWN] & ours
        while b:
            frm = bb_lsb(b)
            b &= b - 1
            # Simulate the capture: it can expose the king along a rank (two pawns
            # leave it at once) or fail to resolve a check; test the result directly.
            occ2 = (occ ^ sq_bb(frm) ^ sq_bb(capsq)) | sq_bb(ep)
            if not (_attackers_to(pos, ksq, occ2) & theirs & ~sq_bb(capsq)):
                moves[n] = <Move>(frm | (ep << 6) | MOVE_EN_PASSANT)
                n += 1

    if not chk:
        for right in range(2 * us, 2 * us + 2):
            if not (pos.st.castling & (1 << right)):
                continue
            rsq = pos.castling_rook[right]
            _castling_targets(ksq, rsq, &kto, &rto)
            path = (BETWEEN[ksq][kto] | sq_bb(kto) | BETWEEN[rsq][rto] | sq_bb(rto)) \
                & ~(sq_bb(ksq) | sq_bb(rsq))
            if path & occ:
                continue
            occ_final = (occ ^ sq_bb(ksq) ^ sq_bb(rsq)) | sq_bb(kto) | sq_bb(rto)
            path = BETWEEN[ksq][kto] | sq_bb(kto)
            while path:
                s = bb_lsb(path)
                path &= path - 1
                if _attacked_by(pos, s, occ_final, them):
                    break
            else:
                moves[n] = <Move>(ksq | (rsq << 6) | MOVE_CASTLING)
                n += 1
    return n


cdef bint has_legal_move(const Position* pos) noexcept nogil:
    cdef Move moves[MAX_MOVES]
    return generate_legal(pos, moves) > 0


cdef bint _side_has_insufficient_material(const Position* pos, int color) noexcept nogil:
    # Same definition as python-chess: no sequence of legal moves can mate.
    cdef Bitboard ours = pos.by_color[color]
    cdef Bitboard theirs = pos.by_color[color ^ 1]
    cdef Bitboard bishops
    if ours & (pos.by_type[PAWN] | pos.by_type[ROOK] | pos.by_type[QUEEN]):
        return False
    if ours & pos.by_type[KNIGHT]:
        return bb_popcount(ours) <= 2 and not (theirs & ~pos.by_type[KING] & ~pos.by_type[QUEEN])
    if ours & pos.by_type[BISHOP]:
        bishops = pos.by_type[BISHOP]
        return (not (bishops & DARK_SQUARES) or not (bishops & ~DARK_SQUARES)) \
            and not pos.by_type[PAWN] and not pos.by_type[KNIGHT]
    return True


cdef bint insufficient_material(const Position* pos) noexcept nogil:
    return _side_has_insufficient_material(pos, WHITE) and _side_has_insufficient_material(pos, BLACK)


cdef int position_status(const Position* pos, int repetitions_for_draw) noexcept nogil:
    """Terminal status. A repetition draw needs ``repetitions_for_draw`` occurrences
    (2 = twofold, as the search uses; 3 = threefold, the game rule)."""
    if not has_legal_move(pos):
        return STATUS_CHECKMATE if in_check(pos) else STATUS_STALEMATE
    if insufficient_material(pos):
        return STATUS_INSUFFICIENT_MATERIAL
    if pos.st.halfmove >= 100:
        return STATUS_FIFTY_MOVES
    if pos.st.repetition + 1 >= repetitions_for_draw:
        return STATUS_REPETITION
    return STATUS_ONGOING


# ---------------------------------------------------------------------------
# Make / unmake
# ---------------------------------------------------------------------------

cdef bint _ep_capture_legal(const Position* pos, int ep) noexcept nogil:
    """Can the side to move legally capture en passant on ``ep``?"""
    cdef int us = pos.side
    cdef int them = us ^ 1
    cdef int capsq = ep - 8 if us == WHITE else ep + 8
    cdef int ksq = _king_square(pos, us)
    cdef Bitboard b = PAWN_ATTACKS[them][ep] & pos.by_type[PAWN] & pos.by_color[us]
    cdef Bitboard occ2
    cdef int frm
    while b:
        frm = bb_lsb(b)
        b &= b - 1
        occ2 = (pos.by_type[0] ^ sq_bb(frm) ^ sq_bb(capsq)) | sq_bb(ep)
        if not (_attackers_to(pos, ksq, occ2) & pos.by_color[them] & ~sq_bb(capsq)):
            return True
    return False


cdef int castling_king_destination(const Position* pos, Move m) noexcept nogil:
    """Square the king lands on for castling move ``m`` (king takes rook)."""
    cdef int kto, rto
    _castling_targets(move_from(m), move_to(m), &kto, &rto)
    return kto


cdef int make_move(Position* pos, Move m) noexcept nogil:
    """Play a legal move. Returns -1 only if the history cannot grow (out of memory)."""
    cdef StateInfo* h
    cdef int us = pos.side, them = us ^ 1
    cdef int frm = move_from(m), to = move_to(m), kind = move_kind(m)
    cdef int piece = pos.board[frm]
    cdef int captured = 0, capsq, kto, rto, ep, i, end, promo
    cdef uint64_t key = pos.st.key ^ SIDE_KEY
    cdef int castling = pos.st.castling
    cdef int halfmove = pos.st.halfmove + 1
    cdef StateInfo* grown

    if pos.ply + 1 >= pos.capacity:
        grown = <StateInfo*>realloc(pos.history, 2 * pos.capacity * sizeof(StateInfo))
        if grown == NULL:
            return -1
        pos.history = grown
        pos.capacity *= 2

    h = &pos.history[pos.ply]
    h[0] = pos.st
    h.move = m
    if pos.st.ep_square != NO_SQUARE:
        key ^= EP_KEYS[pos.st.ep_square & 7]
    ep = NO_SQUARE

    if kind == MOVE_CASTLING:
        _castling_targets(frm, to, &kto, &rto)
        _remove(pos, frm)
        _remove(pos, to)
        _put(pos, piece, kto)
        _put(pos, ROOK | (us << 3), rto)
        key ^= PIECE_KEYS[piece][frm] ^ PIECE_KEYS[piece][kto] \
            ^ PIECE_KEYS[ROOK | (us << 3)][to] ^ PIECE_KEYS[ROOK | (us << 3)][rto]
    else:
        if kind == MOVE_EN_PASSANT:
            capsq = to - 8 if us == WHITE else to + 8
            captured = pos.board[capsq]
        else:
            capsq = to
            captured = pos.board[to]
        if captured:
            _remove(pos, capsq)
            key ^= PIECE_KEYS[captured][capsq]
            halfmove = 0
        _move(pos, frm, to)
        key ^= PIECE_KEYS[piece][frm] ^ PIECE_KEYS[piece][to]
        if (piece & 7) == PAWN:
            halfmove = 0
            if kind == MOVE_PROMOTION:
                promo = move_promotion(m) | (us << 3)
                _remove(pos, to)
                _put(pos, promo, to)
                key ^= PIECE_KEYS[piece][to] ^ PIECE_KEYS[promo][to]
            elif (to ^ frm) == 16 and (PAWN_ATTACKS[us][(frm + to) >> 1] & pos.by_type[PAWN] & pos.by_color[them]):
                ep = (frm + to) >> 1
    h.captured = captured

    castling &= pos.castling_mask[frm] & pos.castling_mask[to]
    if castling != pos.st.castling:
        key ^= CASTLING_KEYS[pos.st.castling] ^ CASTLING_KEYS[castling]
    pos.side = them
    if us == BLACK:
        pos.fullmove += 1
    pos.ply += 1
    # Record an en-passant square only when the capture is legal, so that equal
    # positions (FIDE repetition rules) get equal keys and FENs.
    if ep != NO_SQUARE and not _ep_capture_legal(pos, ep):
        ep = NO_SQUARE
    if ep != NO_SQUARE:
        key ^= EP_KEYS[ep & 7]

    pos.st.key = key
    pos.st.castling = castling
    pos.st.ep_square = ep
    pos.st.halfmove = halfmove
    pos.st.repetition = 0
    end = halfmove if halfmove < pos.ply else pos.ply
    i = 4
    while i <= end:
        if pos.history[pos.ply - i].key == key:
            pos.st.repetition = pos.history[pos.ply - i].repetition + 1
            break
        i += 2
    return 0


cdef void unmake_move(Position* pos) noexcept nogil:
    """Take back the last move. Reads ``history`` but never writes it."""
    pos.ply -= 1
    cdef const StateInfo* h = &pos.history[pos.ply]
    cdef Move m = h.move
    cdef int frm = move_from(m), to = move_to(m), kind = move_kind(m)
    cdef int us = pos.side ^ 1
    cdef int kto, rto
    pos.side = us
    if us == BLACK:
        pos.fullmove -= 1
    if kind == MOVE_CASTLING:
        _castling_targets(frm, to, &kto, &rto)
        _remove(pos, kto)
        _remove(pos, rto)
        _put(pos, KING | (us << 3), frm)
        _put(pos, ROOK | (us << 3), to)
    else:
        if kind == MOVE_PROMOTION:
            _remove(pos, to)
            _put(pos, PAWN | (us << 3), to)
        _move(pos, to, frm)
        if h.captured:
            if kind == MOVE_EN_PASSANT:
                _put(pos, h.captured, to - 8 if us == WHITE else to + 8)
            else:
                _put(pos, h.captured, to)
    pos.st = h[0]


# ---------------------------------------------------------------------------
# Perft
# ---------------------------------------------------------------------------

cdef uint64_t perft(Position* pos, int depth, bint bulk) noexcept nogil:
    """Leaf count at ``depth``. With ``bulk`` the last ply is counted, not played."""
    cdef Move moves[MAX_MOVES]
    cdef int n, i
    cdef uint64_t total = 0
    if depth == 0:
        return 1
    n = generate_legal(pos, moves)
    if bulk and depth == 1:
        return n
    for i in range(n):
        make_move(pos, moves[i])
        total += perft(pos, depth - 1, bulk)
        unmake_move(pos)
    return total


# ---------------------------------------------------------------------------
# Python face
# ---------------------------------------------------------------------------

from collections import namedtuple

Outcome = namedtuple("Outcome", "termination winner")
Outcome.__doc__ = """How a game ended: ``termination`` is one of the ``TERMINATION_*``
strings; ``winner`` is True (white), False (black) or None (draw)."""

TERMINATION_CHECKMATE = "checkmate"
TERMINATION_STALEMATE = "stalemate"
TERMINATION_INSUFFICIENT_MATERIAL = "insufficient_material"
TERMINATION_SEVENTYFIVE_MOVES = "seventyfive_moves"
TERMINATION_FIVEFOLD_REPETITION = "fivefold_repetition"
TERMINATION_FIFTY_MOVES = "fifty_moves"
TERMINATION_THREEFOLD_REPETITION = "threefold_repetition"

_SYMBOL_TO_TYPE = {"p": PAWN, "n": KNIGHT, "b": BISHOP, "r": ROOK, "q": QUEEN, "k": KING}
_INITIAL_COUNTS = {KNIGHT: 2, BISHOP: 2, ROOK: 2, QUEEN: 1}
_PROMOTION_SYMBOLS = "nbrq"


def _parse_square(name: str) -> int:
    if len(name) != 2 or name[0] not in "abcdefgh" or name[1] not in "12345678":
        raise ValueError(f"invalid square {name!r}")
    return (ord(name[1]) - ord("1")) * 8 + ord(name[0]) - ord("a")


def _parse_int(text: str, what: str, minimum: int) -> int:
    if not text.isdigit() or int(text) < minimum:
        raise ValueError(f"invalid {what} {text!r} in FEN")
    return int(text)


def _parse_placement(board_part: str) -> dict:
    """FEN piece placement -> {square: piece code}, with a message for every defect."""
    ranks = board_part.split("/")
    if len(ranks) != 8:
        raise ValueError(f"FEN board has {len(ranks)} ranks, expected 8")
    pieces = {}
    for i, rank_text in enumerate(ranks):
        rank = 7 - i
        file = 0
        previous_digit = False
        for ch in rank_text:
            if ch in "12345678":
                if previous_digit:
                    raise ValueError(f"two consecutive digits in FEN rank {rank + 1}")
                file += int(ch)
                previous_digit = True
            elif ch.lower() in _SYMBOL_TO_TYPE:
                if file < 8:
                    pieces[rank * 8 + file] = _SYMBOL_TO_TYPE[ch.lower()] | ((BLACK if ch.islower() else WHITE) << 3)
                file += 1
                previous_digit = False
            else:
                raise ValueError(f"invalid character {ch!r} in FEN rank {rank + 1}")
        if file != 8:
            raise ValueError(f"FEN rank {rank + 1} has {file} squares, expected 8")
    return pieces


def _validate_material(pieces: dict) -> None:
    for color, name in ((WHITE, "white"), (BLACK, "black")):
        own = [p & 7 for p in pieces.values() if p >> 3 == color]
        kings = own.count(KING)
        if kings != 1:
            raise ValueError(f"{name} has {kings} kings, expected 1")
        pawns = own.count(PAWN)
        if len(own) > 16 or pawns > 8:
            raise ValueError(f"{name} has {len(own)} pieces and {pawns} pawns, more than a game allows")
        promoted = sum(max(0, own.count(t) - n) for t, n in _INITIAL_COUNTS.items())
        if promoted > 8 - pawns:
            raise ValueError(f"{name} has more promoted pieces ({promoted}) than missing pawns ({8 - pawns})")
    for sq, p in pieces.items():
        if p & 7 == PAWN and (sq < 8 or sq >= 56):
            raise ValueError(f"pawn on {SQUARE_NAMES[sq]}: pawns cannot stand on the first or last rank")


cdef void _set_castling(Position* pos, str field, bint chess960):
    cdef int color, back, ksq, rsq, right
    if field == "-":
        return
    for ch in field:
        color = WHITE if ch.isupper() else BLACK
        back = 0 if color == WHITE else 56
        ksq = _king_square(pos, color)
        if ksq >> 3 != back >> 3:
            continue
        rooks = [s for s in range(back, back + 8) if pos.board[s] == (ROOK | (color << 3))]
        c = ch.lower()
        if c == "k":
            candidates = [s for s in rooks if s > ksq]
            rsq = max(candidates) if candidates else NO_SQUARE
        elif c == "q":
            candidates = [s for s in rooks if s < ksq]
            rsq = min(candidates) if candidates else NO_SQUARE
        else:
            rsq = back + ord(c) - ord("a")
            if rsq not in rooks:
                rsq = NO_SQUARE
        if rsq == NO_SQUARE:
            continue
        right = 2 * color + (0 if rsq > ksq else 1)
        if not chess960 and (ksq != back + 4 or rsq != (back + 7 if rsq > ksq else back)):
            continue
        pos.st.castling |= 1 << right
        pos.castling_rook[right] = rsq


cdef str _move_uci(const Position* pos, Move m):
    cdef int frm = move_from(m), to = move_to(m)
    if move_kind(m) == MOVE_CASTLING and not pos.chess960:
        to = castling_king_destination(pos, m)
    text = SQUARE_NAMES[frm] + SQUARE_NAMES[to]
    if move_kind(m) == MOVE_PROMOTION:
        text += _PROMOTION_SYMBOLS[move_promotion(m) - KNIGHT]
    return text


cdef str _castling_fen(const Position* pos, bint shredder):
    cdef int right, rsq, ksq, color
    letters = []
    for right in (0, 1, 2, 3):
        if not (pos.st.castling & (1 << right)):
            continue
        color = right >> 1
        rsq = pos.castling_rook[right]
        ksq = _king_square(pos, color)
        ch = "abcdefgh"[rsq & 7]
        if not shredder:
            rooks = [s for s in range(rsq & 56, (rsq & 56) + 8)
                     if pos.board[s] == (ROOK | (color << 3)) and s != rsq]
            if not any((s < rsq) == (rsq < ksq) for s in rooks):
                ch = "k" if rsq > ksq else "q"
        letters.append(ch.upper() if color == WHITE else ch)
    return "".join(letters) or "-"


cdef class Board:
    """A chess position with its move history (standard chess or Chess960).

    The Python face of the C position: for tools, the UCI front end and tests.
    Moves go in and out as UCI strings. In Chess960 mode castling is written
    king-takes-rook (``e1h1``); otherwise as the king's two-square step
    (``e1g1``); :meth:`push_uci` accepts both.

    >>> board = Board("6k1/5ppp/8/8/8/8/8/R5K1 w - - 0 1")
    >>> board.push_uci("a1a8")
    >>> board.is_checkmate(), board.outcome().winner
    (True, True)
    """

    def __cinit__(self):
        self.pos = position_new()
        if self.pos == NULL:
            raise MemoryError("cannot allocate a position")

    def __dealloc__(self):
        position_free(self.pos)

    def __init__(self, fen: str = STARTING_FEN, *, chess960: bool = False):
        self.set_fen(fen, chess960=chess960)

    @classmethod
    def from_fen(cls, fen: str, *, chess960: bool = False) -> "Board":
        """Parse a FEN (X-FEN and Shredder-FEN castling accepted); raise ``ValueError``."""
        return cls(fen, chess960=chess960)

    def set_fen(self, fen: str, *, chess960: bool = False) -> None:
        """Set up a position; on a ``ValueError`` the board is left unchanged.

        Accepts 4 to 6 fields (missing clocks default to ``0 1``). Castling
        rights that name no rook, or that do not fit standard chess when
        ``chess960`` is false, are dropped, as python-chess and Stockfish do.
        An en-passant square is kept only when a legal capture exists.
        """
        if not isinstance(fen, str):
            raise TypeError(f"FEN must be a str, not {type(fen).__name__}")
        parts = fen.split()
        if not 4 <= len(parts) <= 6:
            raise ValueError(f"FEN has {len(parts)} fields, expected 4 to 6: {fen!r}")
        pieces = _parse_placement(parts[0])
        if parts[1] not in ("w", "b"):
            raise ValueError(f"invalid side to move {parts[1]!r} in FEN")
        side = WHITE if parts[1] == "w" else BLACK
        halfmove = _parse_int(parts[4], "halfmove clock", 0) if len(parts) > 4 else 0
        fullmove = _parse_int(parts[5], "fullmove number", 0) if len(parts) > 5 else 1
        _validate_material(pieces)
        castling = parts[2]
        if castling != "-" and (not castling or any(c not in "KQkqABCDEFGHabcdefgh" for c in castling)):
            raise ValueError(f"invalid castling field {castling!r} in FEN")
        ep_square = NO_SQUARE
        if parts[3] != "-":
            ep_square = _parse_square(parts[3]) if len(parts[3]) == 2 else -1
            pawn_sq = ep_square - 8 if side == WHITE else ep_square + 8
            if (ep_square < 0 or ep_square >> 3 != (5 if side == WHITE else 2)
                    or pieces.get(pawn_sq) != (PAWN | ((side ^ 1) << 3))
                    or ep_square in pieces or (ep_square + (8 if side == WHITE else -8)) in pieces):
                raise ValueError(f"invalid en-passant square {parts[3]!r} in FEN: no pawn can have just passed it")

        cdef Position* pos = position_new()
        if pos == NULL:
            raise MemoryError("cannot allocate a position")
        try:
            for sq, piece in pieces.items():
                position_put_piece(pos, piece, sq)
            pos.side = side
            pos.chess960 = chess960
            pos.st.halfmove = halfmove
            pos.fullmove = max(fullmove, 1)
            _set_castling(pos, castling, chess960)
            if ep_square != NO_SQUARE and _ep_capture_legal(pos, ep_square):
                pos.st.ep_square = ep_square
            pos.side ^= 1
            if in_check(pos):
                raise ValueError("the side not to move is in check")
            pos.side ^= 1
            position_finish_setup(pos)
            if position_copy(self.pos, pos) != 0:
                raise MemoryError("cannot allocate a position")
        finally:
            position_free(pos)

    def copy(self) -> "Board":
        """An independent copy, history included."""
        cdef Board other = Board.__new__(Board)
        if position_copy(other.pos, self.pos) != 0:
            raise MemoryError("cannot allocate a position")
        return other

    def __copy__(self):
        return self.copy()

    # -- notation ---------------------------------------------------------

    cdef Move _parse_uci(self, str uci) except? 0:
        cdef Move moves[MAX_MOVES]
        cdef int n, i
        if not isinstance(uci, str) or len(uci) not in (4, 5):
            raise ValueError(f"invalid UCI move {uci!r}")
        if uci == "0000":
            raise ValueError("null move 0000 cannot be played")
        frm = _parse_square(uci[0:2])
        to = _parse_square(uci[2:4])
        if len(uci) == 5 and uci[4] not in _PROMOTION_SYMBOLS:
            raise ValueError(f"invalid promotion piece in UCI move {uci!r}")
        n = generate_legal(self.pos, moves)
        for i in range(n):
            if move_from(moves[i]) != frm:
                continue
            if move_kind(moves[i]) == MOVE_CASTLING:
                # Accept both king-takes-rook and the king's destination square.
                if len(uci) == 4 and (move_to(moves[i]) == to or castling_king_destination(self.pos, moves[i]) == to):
                    return moves[i]
            elif move_to(moves[i]) == to:
                if move_kind(moves[i]) == MOVE_PROMOTION:
                    if len(uci) == 5 and _PROMOTION_SYMBOLS[move_promotion(moves[i]) - KNIGHT] == uci[4]:
                        return moves[i]
                elif len(uci) == 4:
                    return moves[i]
        raise ValueError(f"illegal move {uci} in {self.fen()}")

    def fen(self, *, shredder: bool = False) -> str:
        """The position as FEN; castling as X-FEN, or Shredder-FEN with ``shredder``."""
        return " ".join([self.board_fen(), "w" if self.pos.side == WHITE else "b",
                         _castling_fen(self.pos, shredder),
                         SQUARE_NAMES[self.pos.st.ep_square] if self.pos.st.ep_square != NO_SQUARE else "-",
                         str(self.pos.st.halfmove), str(self.pos.fullmove)])

    def board_fen(self) -> str:
        rows = []
        for rank in range(7, -1, -1):
            row = ""
            empty = 0
            for file in range(8):
                piece = self.pos.board[rank * 8 + file]
                if piece == 0:
                    empty += 1
                    continue
                if empty:
                    row += str(empty)
                    empty = 0
                symbol = PIECE_SYMBOLS[piece & 7]
                row += symbol.upper() if piece >> 3 == WHITE else symbol
            if empty:
                row += str(empty)
            rows.append(row)
        return "/".join(rows)

    # -- moves ------------------------------------------------------------

    @property
    def legal_moves(self) -> list:
        """Legal moves as UCI strings."""
        cdef Move moves[MAX_MOVES]
        cdef int n = generate_legal(self.pos, moves)
        return [_move_uci(self.pos, moves[i]) for i in range(n)]

    def is_legal(self, uci: str) -> bool:
        try:
            self._parse_uci(uci)
        except ValueError:
            return False
        return True

    def push_uci(self, uci: str) -> None:
        """Play a move given in UCI notation; ``ValueError`` if malformed or illegal."""
        cdef Move m = self._parse_uci(uci)
        if make_move(self.pos, m) != 0:
            raise MemoryError("cannot grow the move history")

    def pop(self) -> str:
        """Take back the last move and return it in UCI notation."""
        if self.pos.ply == 0:
            raise IndexError("pop from a board without moves")
        unmake_move(self.pos)
        return _move_uci(self.pos, self.pos.history[self.pos.ply].move)

    def peek(self) -> str:
        if self.pos.ply == 0:
            raise IndexError("peek at a board without moves")
        return _move_uci(self.pos, self.pos.history[self.pos.ply - 1].move)

    @property
    def move_stack(self) -> list:
        """Moves played since the position was set up, oldest first (UCI)."""
        return [_move_uci(self.pos, self.pos.history[i].move) for i in range(self.pos.ply)]

    # -- state ------------------------------------------------------------

    @property
    def turn(self) -> bool:
        """True when white is to move (the python-chess convention)."""
        return self.pos.side == WHITE

    @property
    def chess960(self) -> bool:
        return bool(self.pos.chess960)

    @chess960.setter
    def chess960(self, value: bool) -> None:
        self.pos.chess960 = bool(value)

    @property
    def zobrist(self) -> int:
        """64-bit Zobrist key: pieces, side to move, castling rights, legal en passant."""
        return self.pos.st.key

    @property
    def halfmove_clock(self) -> int:
        return self.pos.st.halfmove

    @property
    def fullmove_number(self) -> int:
        return self.pos.fullmove

    @property
    def ply(self) -> int:
        """Moves played since the position was set up."""
        return self.pos.ply

    @property
    def ep_square(self):
        """En-passant target square index, or None when no legal capture exists."""
        return None if self.pos.st.ep_square == NO_SQUARE else self.pos.st.ep_square

    def piece_at(self, int square):
        """Piece symbol on a square (``'P'``, ``'k'``, ...) or None."""
        if not 0 <= square < 64:
            raise ValueError(f"square index {square} out of range")
        piece = self.pos.board[square]
        if piece == 0:
            return None
        symbol = PIECE_SYMBOLS[piece & 7]
        return symbol.upper() if piece >> 3 == WHITE else symbol

    def is_check(self) -> bool:
        return bool(in_check(self.pos))

    def is_checkmate(self) -> bool:
        return bool(in_check(self.pos) and not has_legal_move(self.pos))

    def is_stalemate(self) -> bool:
        return bool(not in_check(self.pos) and not has_legal_move(self.pos))

    def is_insufficient_material(self) -> bool:
        return bool(insufficient_material(self.pos))

    def is_fifty_moves(self) -> bool:
        """50-move rule reached (a claimable draw unless the side to move is mated)."""
        return self.pos.st.halfmove >= 100 and bool(has_legal_move(self.pos))

    def is_seventyfive_moves(self) -> bool:
        return self.pos.st.halfmove >= 150 and bool(has_legal_move(self.pos))

    def is_repetition(self, int count=3) -> bool:
        """Has this position occurred ``count`` times (this one included)?"""
        return self.pos.st.repetition + 1 >= count

    def is_threefold_repetition(self) -> bool:
        return self.is_repetition(3)

    def is_fivefold_repetition(self) -> bool:
        return self.is_repetition(5)

    def outcome(self, *, claim_draw: bool = False):
        """The :data:`Outcome` if the game is over, else None (python-chess semantics).

        Without ``claim_draw`` only automatic endings count (mate, stalemate,
        insufficient material, 75 moves, fivefold); with it also the 50-move
        rule and threefold repetition.
        """
        if self.is_checkmate():
            return Outcome(TERMINATION_CHECKMATE, self.pos.side == BLACK)
        if self.is_insufficient_material():
            return Outcome(TERMINATION_INSUFFICIENT_MATERIAL, None)
        if not has_legal_move(self.pos):
            return Outcome(TERMINATION_STALEMATE, None)
        if self.is_seventyfive_moves():
            return Outcome(TERMINATION_SEVENTYFIVE_MOVES, None)
        if self.is_fivefold_repetition():
            return Outcome(TERMINATION_FIVEFOLD_REPETITION, None)
        if claim_draw:
            if self.is_fifty_moves():
                return Outcome(TERMINATION_FIFTY_MOVES, None)
            if self.is_threefold_repetition():
                return Outcome(TERMINATION_THREEFOLD_REPETITION, None)
        return None

    def result(self, *, claim_draw: bool = False) -> str:
        """``'1-0'``, ``'0-1'``, ``'1/2-1/2'`` or ``'*'``."""
        outcome = self.outcome(claim_draw=claim_draw)
        if outcome is None:
            return "*"
        return "1/2-1/2" if outcome.winner is None else ("1-0" if outcome.winner else "0-1")

    # -- perft ------------------------------------------------------------

    def perft(self, int depth, *, bint bulk=True) -> int:
        """Count leaf nodes ``depth`` plies deep (releases the GIL)."""
        if depth < 0:
            raise ValueError("perft depth must be >= 0")
        cdef uint64_t nodes
        with nogil:
            nodes = perft(self.pos, depth, bulk)
        return nodes

    def perft_divide(self, int depth, *, bint bulk=True) -> list:
        """``[(uci, leaves), ...]`` for each legal move at the root."""
        if depth < 1:
            raise ValueError("divide needs depth >= 1")
        cdef Move moves[MAX_MOVES]
        cdef int n = generate_legal(self.pos, moves)
        result = []
        cdef uint64_t nodes
        for i in range(n):
            make_move(self.pos, moves[i])
            with nogil:
                nodes = perft(self.pos, depth - 1, bulk)
            unmake_move(self.pos)
            result.append((_move_uci(self.pos, moves[i]), nodes))
        return result

    def __str__(self) -> str:
        rows = []
        for rank in range(7, -1, -1):
            rows.append(" ".join(self.piece_at(rank * 8 + f) or "." for f in range(8)))
        return "\n".join(rows)

    def __repr__(self) -> str:
        return f"Board({self.fen()!r}{', chess960=True' if self.pos.chess960 else ''})"
