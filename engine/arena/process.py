"""A UCI engine as a process, driven through python-chess's asyncio protocol with a timeout on every call."""

from __future__ import annotations

import asyncio
import contextlib
import io
import logging
import shlex
import subprocess
from dataclasses import dataclass

import chess
import chess.engine

from engine.arena.specs import EngineSpec, MatchError

#: Seconds allowed for the UCI handshake and option setup of an engine.
DEFAULT_STARTUP_TIMEOUT = 30.0
#: Seconds to wait for an engine to quit before killing it.
QUIT_TIMEOUT = 2.0


class InfoStringFilter(logging.Filter):
    """Drops python-chess's "Unexpected engine output" warning for ``info string`` lines.

    UCI lets an engine send ``info string`` at any time (ours announces the net it loaded while
    answering ``isready``); python-chess warns about any line the command in flight did not
    expect, which filled match logs with warnings about valid output. Other unexpected lines
    still warn.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        return not (str(record.msg).endswith("Unexpected engine output: %r") and isinstance(args, tuple)
                    and len(args) == 2 and str(args[1]).startswith("info string"))


@dataclass
class EngineProcess:
    """A running UCI engine driven through python-chess's asyncio protocol.

    Every call has a timeout; on a timeout or a dead process the engine is
    killed and :meth:`ensure_started` starts a fresh one.
    """

    spec: EngineSpec
    startup_timeout: float = DEFAULT_STARTUP_TIMEOUT
    stderr: int | io.IOBase | None = subprocess.DEVNULL
    transport: asyncio.SubprocessTransport | None = None
    protocol: chess.engine.UciProtocol | None = None
    starts: int = 0

    @property
    def alive(self) -> bool:
        """Whether the process is running."""
        return self.protocol is not None and not self.protocol.returncode.done()

    async def ensure_started(self) -> None:
        """Start the engine and send its options unless it is already running.

        :raises MatchError: when the command cannot be executed, the engine does
            not complete the UCI handshake in time, or rejects an option.
        """
        if self.alive:
            return
        await self.kill()
        if not any(isinstance(f, InfoStringFilter) for f in chess.engine.LOGGER.filters):
            chess.engine.LOGGER.addFilter(InfoStringFilter())
        try:
            transport, protocol = await asyncio.wait_for(
                chess.engine.popen_uci(list(self.spec.command), cwd=self.spec.workdir,
                                       stderr=self.stderr),
                self.startup_timeout)
            self.transport, self.protocol = transport, protocol
            await asyncio.wait_for(protocol.configure(self.spec.option_dict()),
                                   self.startup_timeout)
            await asyncio.wait_for(protocol.ping(), self.startup_timeout)
        except (OSError, chess.engine.EngineError, asyncio.TimeoutError) as exc:
            await self.kill()
            what = "timed out" if isinstance(exc, asyncio.TimeoutError) else str(exc)
            raise MatchError(f"engine {self.spec.name} ({shlex.join(self.spec.command)}) "
                             f"failed to start: {what}") from exc
        self.starts += 1

    async def kill(self) -> None:
        """Kill the process (if any) and forget it."""
        transport, protocol = self.transport, self.protocol
        self.transport = self.protocol = None
        if transport is not None:
            transport.close()
        if protocol is not None:
            with contextlib.suppress(asyncio.TimeoutError, Exception):
                await asyncio.wait_for(asyncio.shield(protocol.returncode), QUIT_TIMEOUT)

    async def quit(self) -> None:
        """Ask the engine to quit, killing it if it does not in time."""
        if self.alive and self.protocol is not None:
            with contextlib.suppress(asyncio.TimeoutError, chess.engine.EngineError):
                await asyncio.wait_for(self.protocol.quit(), QUIT_TIMEOUT)
        await self.kill()

    async def search(self, board: chess.Board, limit: chess.engine.Limit, timeout: float, *,
                     game: object = None,
                     info: chess.engine.Info = chess.engine.INFO_ALL) -> chess.engine.PlayResult:
        """Search ``board`` (starting the engine if needed) and return its move and info.

        :param game: a key per game: ``ucinewgame`` is sent when it changes.
        :raises asyncio.TimeoutError: when no move arrives in ``timeout`` seconds.
        :raises chess.engine.EngineError: when the engine dies or sends a bad move
            (``EngineTerminatedError`` for a dead process).  After any exception the
            engine is killed.
        :raises MatchError: when the engine cannot be (re)started.
        """
        await self.ensure_started()
        assert self.protocol is not None
        try:
            return await asyncio.wait_for(
                self.protocol.play(board, limit, game=game, info=info), timeout)
        except (asyncio.TimeoutError, chess.engine.EngineError):
            await self.kill()
            raise
