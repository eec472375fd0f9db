from __future__ import annotations

import pathlib

import pytest

DATA = pathlib.Path(__file__).parent / "data"


@pytest.fixture(scope="session")
def data_dir() -> pathlib.Path:
    return DATA


def read_epd_perft(path: pathlib.Path) -> list[tuple[str, dict[int, int]]]:
    """Parse ``FEN; D1 n; D2 n`` / ``FEN ;D1 n`` perft lines."""
    cases = []
    for line in path.read_text().splitlines():
        if not line.strip():
            continue
        fen, *depths = line.split(";")
        counts = {}
        for item in depths:
            item = item.strip()
            if item.startswith("D"):
                depth, nodes = item[1:].split()
                counts[int(depth)] = int(nodes)
        cases.append((fen.strip(), counts))
    return cases
