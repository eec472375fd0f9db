"""An independent, slow lc0 encoder on python-chess, written from lc0's format description.

It shares no code with ``cython_ext.encoding``: the policy list is derived from
python-chess attack masks and the planes from python-chess boards.
"""

from __future__ import annotations

import chess
import numpy as np

PIECE_ORDER = (chess.PAWN, chess.KNIGHT, chess.BISHOP, chess.ROOK, chess.QUEEN, chess.KING)
START_ARRAY = chess.Board().board_fen()


def policy_moves() -> list[str]:
    moves = []
    for frm in chess.SQUARES:
        reach = chess.BB_EMPTY
        reach |= int(chess.SquareSet(chess.BB_RANK_ATTACKS[frm][0] | chess.BB_FILE_ATTACKS[frm][0]
                                      | chess.BB_DIAG_ATTACKS[frm][0]))
        reach |= chess.BB_KNIGHT_ATTACKS[frm]
        moves += [chess.square_name(frm) + chess.square_name(to) for to in chess.SquareSet(reach)]
    for file in range(8):
        for to_file in (file - 1, file, file + 1):
            if 0 <= to_file < 8:
                moves += [chess.FILE_NAMES[file] + "7" + chess.FILE_NAMES[to_file] + "8" + p for p in "qrb"]
    return moves


def mirror_uci(uci: str) -> str:
    return uci[0] + str(9 - int(uci[1])) + uci[2] + str(9 - int(uci[3])) + uci[4:]


def policy_name(board: chess.Board, move: chess.Move) -> str:
    """lc0 policy name of a move: side-to-move view, king-takes-rook castling, N promotion plain."""
    uci = board.uci(move, chess960=True)
    if move.promotion == chess.KNIGHT:
        uci = uci[:4]
    return uci if board.turn == chess.WHITE else mirror_uci(uci)


def planes(board: chess.Board) -> np.ndarray:
    out = np.zeros((112, 64), dtype=np.float32)
    us = board.turn
    history = board.copy()
    known = len(history.move_stack)
    for h in range(8):
        if h > 0:
            if known > 0:
                history.pop()
                known -= 1
            elif history.board_fen() == START_ARRAY:
                break
        for i, piece_type in enumerate(PIECE_ORDER):
            for color, offset in ((us, 0), (not us, 6)):
                for sq in history.pieces(piece_type, color):
                    out[13 * h + offset + i, sq if us == chess.WHITE else chess.square_mirror(sq)] = 1
        if history.is_repetition(2):
            out[13 * h + 12] = 1
    castle = (board.has_queenside_castling_rights(us), board.has_kingside_castling_rights(us),
              board.has_queenside_castling_rights(not us), board.has_kingside_castling_rights(not us))
    for i, right in enumerate(castle):
        out[104 + i] = float(right)
    out[108] = float(us == chess.BLACK)
    out[109] = board.halfmove_clock / 99.0
    out[111] = 1.0
    return out.reshape(112, 8, 8)
