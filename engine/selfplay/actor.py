"""The self-play actor: many games at once through the C search tree, one network request per step.

An actor holds ``games_at_once`` games, each with its own :class:`cython_ext.mcts.SearchTree`
(reused from move to move). One step gathers leaves from every game that is searching (lc0's
collision budget per tree), sends them as one request to the inference server, and applies the
answers; so the per-position Python work is a slice and a copy, and the server sees batches of
hundreds of positions. Games that reached their playout target make their move:

* the root gets Dirichlet noise (``dirichlet_alpha``, ``dirichlet_epsilon``) before a full search;
* the first ``temperature_plies`` plies sample a move with probability proportional to
  ``visits ** (1 / temperature)``, later plies play the most visited move;
* KataGo's playout cap randomisation (``fast_playouts`` > 0): a share ``full_search_prob`` of the
  moves get a full search with noise and are trained on; the others are fast searches without
  noise, played but stored with ``keep=False``;
* resignation when the best move's Q stays below ``resign_threshold`` for ``resign_moves`` moves
  of that side; a share ``resign_playthrough`` of the games never resign, and a side that would
  have resigned there and did not lose is a *false positive*.

The actor imports no torch: it needs numpy, the Cython extensions and something with
``evaluate(count) -> (policy, wdl)`` over its request buffer (:class:`InferenceClient`).
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from cython_ext.encoding import legal_policy
from cython_ext.mcts import SearchTree, collision_budget
from cython_ext.position import Board
from engine.selfplay.config import ActorConfig
from engine.training.datagen import encode_move

NOISE_TREE_VISITS = 1
"""A root needs its children (one expansion) before noise can be mixed into their priors."""


class InferenceClient(Protocol):
    """An actor's connection to the inference server: a request buffer and one blocking call."""

    planes: np.ndarray
    """(capacity, 112, 8, 8) float32: the actor writes a request's inputs here."""

    def evaluate(self, count: int) -> tuple[np.ndarray, np.ndarray]:
        """Policy logits (count, 1858) and WDL (count, 3) of ``planes[:count]``."""
        ...


@dataclass
class FinishedGame:
    """A finished game, as the replay buffer stores it.

    ``policy_index``/``policy_visits`` hold the most visited root moves of each position;
    ``wdl`` the search's win/draw/loss permille for the side to move (from the best move's Q
    and D); ``keep`` is False for fast-search moves (not trained on).
    """

    number: int
    start_fen: str
    result: int = 0
    termination: str = ""
    moves: list[int] = field(default_factory=list)
    policy_index: list[list[int]] = field(default_factory=list)
    policy_visits: list[list[int]] = field(default_factory=list)
    wdl: list[tuple[int, int, int]] = field(default_factory=list)
    keys: list[int] = field(default_factory=list)
    keep: list[bool] = field(default_factory=list)
    generation: int = 0
    """The self-play phase (run generation) in which the game ended."""
    playthrough: bool = False
    would_resign: int = 0
    """In a playthrough game: 1 if white would have resigned, -1 black, 0 neither."""
    false_positive: bool = False


@dataclass
class ActorStats:
    """Counters of one actor since its start; the time split is in seconds."""

    games: int = 0
    positions: int = 0
    requests: int = 0
    leaves: int = 0
    resigned: int = 0
    playthroughs: int = 0
    would_resign: int = 0
    false_positives: int = 0
    seconds: dict[str, float] = field(default_factory=lambda: {
        "state": 0.0, "encoding": 0.0, "tree": 0.0, "network+wait": 0.0, "actor python": 0.0})


class _Game:
    """One game in progress: its board, tree and record."""

    def __init__(self, number: int, start_fen: str, tree: SearchTree, rng: random.Random,
                 config: ActorConfig) -> None:
        self.board = Board(start_fen)
        self.tree = tree
        tree.clear()
        self.rng = rng
        self.record = FinishedGame(number=number, start_fen=start_fen,
                                   playthrough=rng.random() < config.resign_playthrough)
        self.low_q_moves = {True: 0, False: 0}
        self.config = config
        self._start_move()

    def _start_move(self) -> None:
        config = self.config
        self.full = config.fast_playouts == 0 or self.rng.random() < config.full_search_prob
        self.target = config.playouts if self.full else config.fast_playouts
        self.tree.set_position(self.board)
        self.noise_pending = self.full
        self.pending = 0

    def gather(self) -> int:
        """Leaves of this game's next batch (written to ``tree.planes``)."""
        tree = self.tree
        if self.noise_pending and tree.root_expanded:
            self._add_noise()
        if not tree.root_expanded:
            limit, collisions = NOISE_TREE_VISITS, 1
        else:
            remaining = max(self.target - tree.root_visits, 1)
            limit = min(self.config.minibatch, remaining)
            collisions = collision_budget(min(tree.root_visits, remaining))
        self.visits_before = tree.root_visits
        self.pending = tree.gather(limit, collisions)
        return self.pending

    def _add_noise(self) -> None:
        children = len(self.board.legal_moves)
        noise = np.random.default_rng(self.rng.getrandbits(32)).dirichlet([self.config.dirichlet_alpha] * children)
        self.tree.add_root_noise(self.config.dirichlet_epsilon, noise.tolist())
        self.noise_pending = False

    def search_done(self) -> bool:
        tree = self.tree
        if not tree.root_expanded or self.noise_pending:
            return False
        bound, _ = tree.root_bound
        stuck = self.pending == 0 and tree.root_visits == self.visits_before
        return tree.root_visits >= self.target or bound is not None or stuck

    def play_move(self, stats: ActorStats) -> bool:
        """Record the search, play a move; True when the game is over."""
        config, record, board = self.config, self.record, self.board
        children = self.tree.children()
        ranked = sorted(children, key=lambda child: child["visits"], reverse=True)[:config.policy_moves]
        ranked = [child for child in ranked if child["visits"] > 0] or ranked[:1]
        best = children[0]
        q, d = best["q"], best["d"]
        if len(record.moves) < config.temperature_plies and self.full and sum(c["visits"] for c in ranked) > 0:
            weights = [c["visits"] ** (1.0 / config.temperature) for c in ranked]
            move = self.rng.choices([c["move"] for c in ranked], weights=weights)[0]
        else:
            move = best["move"]
        record.moves.append(encode_move(move))
        legal, indices = legal_policy(board)
        index_of = dict(zip(legal, indices.tolist()))
        record.policy_index.append([index_of[c["move"]] for c in ranked])
        record.policy_visits.append([c["visits"] for c in ranked])
        win, loss = 500.0 * (1.0 + q - d), 500.0 * (1.0 - q - d)
        win, loss = max(0, min(1000, round(win))), max(0, min(1000, round(loss)))
        record.wdl.append((win, max(0, 1000 - win - loss), loss))
        record.keys.append(board.zobrist)
        record.keep.append(self.full)
        stats.positions += 1
        mover = board.turn
        if self._resigns(mover, q):
            return True
        board.push_uci(move)
        outcome = board.outcome(claim_draw=True)
        if outcome is not None:
            record.result = 0 if outcome.winner is None else (1 if outcome.winner else -1)
            record.termination = outcome.termination
            return True
        if len(record.moves) >= config.max_plies:
            record.result, record.termination = 0, "max plies"
            return True
        self._start_move()
        return False

    def _resigns(self, mover: bool, q: float) -> bool:
        config, record = self.config, self.record
        if config.resign_threshold <= -1.0:
            return False
        self.low_q_moves[mover] = self.low_q_moves[mover] + 1 if q < config.resign_threshold else 0
        if self.low_q_moves[mover] < config.resign_moves:
            return False
        if record.playthrough:
            if record.would_resign == 0:
                record.would_resign = 1 if mover else -1
            return False
        record.result = -1 if mover else 1
        record.termination = "resignation"
        return True


class SelfPlayActor:
    """Plays self-play games through ``client``; finished games go to ``on_game``.

    :param actor_id: this actor's number (it seeds the games: game ``k`` of actor ``a`` is the
        same game in a resumed run as in a straight one, given the same nets).
    """

    def __init__(self, config: ActorConfig, client: InferenceClient, openings: Sequence[str],
                 actor_id: int = 0, first_game: int = 0, profile: bool = True) -> None:
        if not openings:
            raise ValueError("no opening positions to start games from")
        self.config = config
        self.client = client
        self.openings = list(openings)
        self.actor_id = actor_id
        self.next_game = first_game
        self.generation = 0
        self.stats = ActorStats()
        self.capacity = client.planes.shape[0]
        if self.capacity < config.games_at_once * config.minibatch:
            raise ValueError(f"request buffer of {self.capacity} positions is smaller than "
                             f"games_at_once * minibatch = {config.games_at_once * config.minibatch}")
        self._trees = [SearchTree(max_batch=config.minibatch, cache_size=config.tree_cache)
                       for _ in range(config.games_at_once)]
        for tree in self._trees:
            tree.profiling = profile
            tree.reset_profile()
        self._games: list[_Game | None] = [None] * config.games_at_once

    def _new_game(self, slot: int) -> _Game:
        number = self.next_game
        self.next_game += 1
        rng = random.Random(f"{self.config.seed}:{self.actor_id}:{number}")
        return _Game(number, rng.choice(self.openings), self._trees[slot], rng, self.config)

    def play(self, games: int, on_game: Callable[[FinishedGame], None],
             should_stop: Callable[[], bool] = lambda: False) -> int:
        """Play until ``games`` games have finished (games in progress carry over to the next call).

        :returns: games finished by this call (fewer than asked only when ``should_stop``).
        """
        finished = 0
        stats = self.stats
        while finished < games and not should_stop():
            for slot, game in enumerate(self._games):
                if game is None:
                    self._games[slot] = self._new_game(slot)
            started = time.perf_counter()
            offsets = []
            total = 0
            for game in self._games:
                n = game.gather()
                if n:
                    self.client.planes[total:total + n] = game.tree.planes[:n]
                offsets.append((total, n))
                total += n
            network_started = time.perf_counter()
            if total:
                policy, wdl = self.client.evaluate(total)
                stats.requests += 1
                stats.leaves += total
            network_done = time.perf_counter()
            for game, (offset, n) in zip(self._games, offsets):
                if n:
                    game.tree.apply(policy[offset:offset + n], wdl[offset:offset + n])
            for slot, game in enumerate(self._games):
                if game.search_done() and game.play_move(stats):
                    # A game carried over from the previous call counts for the phase it ends in.
                    game.record.generation = self.generation
                    self._finish(game, stats)
                    on_game(game.record)
                    finished += 1
                    self._games[slot] = None if finished >= games else self._new_game(slot)
            done = time.perf_counter()
            stats.seconds["network+wait"] += network_done - network_started
            stats.seconds["actor python"] += (done - started) - (network_done - network_started)
        self._collect_profile()
        return finished

    def _finish(self, game: _Game, stats: ActorStats) -> None:
        record = game.record
        stats.games += 1
        if record.termination == "resignation":
            stats.resigned += 1
        if record.playthrough:
            stats.playthroughs += 1
            if record.would_resign:
                stats.would_resign += 1
                # The side that would have resigned did not lose: resigning would have been wrong.
                record.false_positive = record.result != -record.would_resign
                stats.false_positives += record.false_positive

    def _collect_profile(self) -> None:
        """Move the trees' C-level time (game state, encoding, tree) out of the actor's Python share."""
        for tree in self._trees:
            for name, seconds in tree.profile.items():
                self.stats.seconds[name] += seconds
                self.stats.seconds["actor python"] -= seconds
            tree.reset_profile()
