"""Keep torch's quantization deprecation chatter off the UCI stream.

torch 2.13 warns on every ``torch.ao.quantization`` entry point and on every creation of a
``qint8``/``quint8`` tensor. Python warnings go to stderr, never stdout, but a GUI logs stderr
too and thousands of identical lines hide real problems, so the known, understood messages are
filtered here once, at import, by every module that touches torch quantization. Anything
unexpected still reaches stderr.
"""

from __future__ import annotations

import logging
import warnings

KNOWN_DEPRECATION_MESSAGES = (
    r"torch\.ao\.quantization is deprecated",
    r"Please use quant_min and quant_max to specify the range for observers",
    r"torch\.quantize_per_tensor, torch\.quantize_per_channel and other quantized tensor",
    r".*_aminmax.*deprecated",
    r"must run observer before calling calculate_qparams",
    r"TypedStorage is deprecated",
)
"""Regular expressions of warnings we know about and have decided to live with (see docs/precision.md)."""


def install_filters() -> None:
    """Ignore the known quantization deprecation warnings (idempotent)."""
    for message in KNOWN_DEPRECATION_MESSAGES:
        warnings.filterwarnings("ignore", message=message)
    # torchao logs missing CUDA-only kernels at import; irrelevant on CPU.
    logging.getLogger("torchao").setLevel(logging.ERROR)


install_filters()
