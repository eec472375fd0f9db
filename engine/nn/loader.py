"""Net files of either kind opened by path: ours (:mod:`engine.nn.netfile`) or lc0's (:mod:`engine.nn.lc0`).

Both readers return the same :class:`~engine.nn.netfile.NetFile`; this module only picks the
reader, so neither format module needs the other.
"""

from __future__ import annotations

import os
import pathlib

from torch import nn

from engine.nn import lc0
from engine.nn.netfile import NetFile, NetFileError, instantiate, read_azchess_file


def read_net_file(path: str | pathlib.Path) -> NetFile:
    """Parse and validate a net file (ours, or an lc0 weights file) without building the module.

    :raises NetFileError: missing, truncated, unsafe (pickled code), foreign or unknown-version files;
        lc0 files that are corrupt or hold an unsupported network (:class:`engine.nn.lc0.Lc0FormatError`).
    """
    name = str(path)
    if not os.path.isfile(name):
        raise NetFileError(f"{name}: no such net file")
    if lc0.is_lc0_file(name):
        return lc0.read_lc0_net(name)
    return read_azchess_file(name)


def load_net(path: str | pathlib.Path) -> tuple[nn.Module, NetFile]:
    """Read and instantiate a net file; see :func:`read_net_file` and :func:`~engine.nn.netfile.instantiate`."""
    net_file = read_net_file(path)
    return instantiate(net_file), net_file
