"""Perft against published suites: exact leaf counts prove the move generator."""

from __future__ import annotations

import pytest

from conftest import DATA, read_epd_perft
from cython_ext.position import Board

MAX_LEAVES = 20_000_000  # per position: keeps the suite fast with bulk counting


def deepest(counts: dict[int, int], limit: int = MAX_LEAVES) -> tuple[int, int]:
    depth = max((d for d, n in counts.items() if n <= limit), default=min(counts))
    return depth, counts[depth]


def check_suite(name: str, chess960: bool = False, step: int = 1, limit: int = MAX_LEAVES) -> int:
    failures = []
    cases = read_epd_perft(DATA / name)[::step]
    for fen, counts in cases:
        board = Board(fen, chess960=chess960)
        depth, expected = deepest(counts, limit)
        got = board.perft(depth)
        if got != expected:
            failures.append(f"{fen} D{depth}: expected {expected}, got {got}")
    assert not failures, "\n".join(failures[:10])
    return len(cases)


def test_perft_suite():
    assert check_suite("perft.epd") == 174


def test_perft_double_checks():
    assert check_suite("ferdy_perft_double_checks.epd") == 184


def test_perft_en_passant():
    assert check_suite("ferdy_perft_enpassant_1.epd", step=3) > 1000


def test_perft_marcel_first_500():
    assert check_suite("perft-marcel-500.epd", limit=2_000_000) == 500


def test_perft_chess960_all_starts_shallow():
    assert check_suite("fischer960.epd", chess960=True, limit=15_000) == 960


def test_perft_chess960_sample_deep():
    assert check_suite("fischer960.epd", chess960=True, step=24) == 40


def test_make_unmake_perft_matches_bulk():
    board = Board("r3k2r/p1ppqpb1/bn2pnp1/3PN3/1p2P3/2N2Q1p/PPPBBPPP/R3K2R w KQkq - 0 1")
    assert board.perft(3, bulk=False) == board.perft(3) == 97862
    assert board.fen() == "r3k2r/p1ppqpb1/bn2pnp1/3PN3/1p2P3/2N2Q1p/PPPBBPPP/R3K2R w KQkq - 0 1"


def test_divide_sums_to_total():
    board = Board()
    divide = board.perft_divide(3)
    assert len(divide) == 20
    assert sum(n for _, n in divide) == 8902


@pytest.mark.parametrize("depth, nodes", [(1, 20), (2, 400), (3, 8902), (4, 197281), (5, 4865609)])
def test_startpos(depth, nodes):
    assert Board().perft(depth) == nodes
