"""A stand-in for cutechess-cli/fastchess: logs its argv and writes a canned PGN.

Installed on PATH as ``cutechess-cli`` (or ``fastchess``) by the tests.  It writes
``sys.argv`` as JSON to ``$FAKE_RUNNER_LOG`` and four games between the two
``-engine name=...`` engines: A mates, a draw by adjudication, A loses on time,
B makes an illegal move.
"""

from __future__ import annotations

import json
import os
import sys

GAMES = [
    # (round, a_is_white, result, termination, moves, reason)
    (1, True, "1-0", None, "1. e4 e5 2. Qh5 Nc6 3. Bc4 Nf6 4. Qxf7#", "White mates"),
    (1, False, "1/2-1/2", "adjudication", "1. d4 d5", "Draw by adjudication"),
    (2, True, "0-1", "time forfeit", "1. c4 e5", "White loses on time"),
    (2, False, "0-1", "illegal move", "1. Nf3 d5", "White makes an illegal move: e1e5"),
]


def main() -> int:
    argv = sys.argv
    with open(os.environ["FAKE_RUNNER_LOG"], "w") as handle:
        json.dump(argv, handle)
    names = [tok.split("=", 1)[1] for tok in argv if tok.startswith("name=")]
    index = argv.index("-pgnout")
    target = argv[index + 1]
    if target.startswith("file="):
        target = target[len("file="):]
    chunks = []
    for number, (rnd, a_white, result, termination, moves, reason) in enumerate(GAMES, 1):
        white, black = (names[0], names[1]) if a_white else (names[1], names[0])
        tags = [("Event", "fake"), ("Site", "?"), ("Date", "2024.01.01"), ("Round", str(rnd)),
                ("White", white), ("Black", black), ("Result", result)]
        if termination:
            tags.append(("Termination", termination))
        header = "\n".join(f'[{k} "{v}"]' for k, v in tags)
        chunks.append(f"{header}\n\n{moves} {{{reason}}} {result}\n")
        print(f"Finished game {number} ({white} vs {black}): {result} {{{reason}}}", flush=True)
    with open(target, "w") as handle:
        handle.write("\n".join(chunks))
    return 0


if __name__ == "__main__":
    sys.exit(main())
