"""Build the Cython extensions (game state, encoding, search) and install the package.

``pip install .`` or ``pip install -e .``; the console script is ``engine``.
"""

from __future__ import annotations

import platform

import numpy
from Cython.Build import cythonize
from setuptools import Extension, setup

# -march=x86-64-v2 brings POPCNT (used by every bitboard loop) while staying
# portable to any x86-64 CPU of the last 15 years; elsewhere use the defaults.
ARCH_FLAGS = ["-march=x86-64-v2"] if platform.machine() in ("x86_64", "AMD64") else []
COMPILE_ARGS = ["-O3", *ARCH_FLAGS]

EXTENSIONS = [
    Extension(f"cython_ext.{name}", [f"cython_ext/{name}.pyx"],
              include_dirs=[numpy.get_include()], extra_compile_args=COMPILE_ARGS,
              define_macros=[("NPY_NO_DEPRECATED_API", "NPY_1_7_API_VERSION")])
    for name in ("position", "encoding", "mcts", "winograd")
]

setup(
    name="azchess-engine",
    version="0.1.0",
    description="AlphaZero-style UCI chess engine: Cython game state and MCTS, precision-selectable network",
    packages=["engine", "engine.nn", "engine.training", "engine.selfplay", "engine.arena", "engine.bench", "uci",
              "cython_ext"],
    package_data={"engine": ["py.typed", "data/*"], "cython_ext": ["*.pxd", "*.pyx", "py.typed"]},
    ext_modules=cythonize(EXTENSIONS, language_level=3,
                          compiler_directives={"embedsignature": True}),
    python_requires=">=3.10",
    install_requires=["numpy>=1.24", "torch>=2.1,<=2.13.0", "tqdm>=4.60", "chess>=1.10", "scipy>=1.10",
                      "matplotlib>=3.7", "onnxruntime>=1.20", "onnx>=1.16"],
    extras_require={"test": ["pytest>=7", "chess>=1.10", "ray>=2.9"],  # the suite runs self-play on a local Ray
                    "ray": ["ray>=2.9"],  # engine selfplay --ray
                    "dist": ["pyinstaller>=6.0", "Cython>=3.0"]},  # engine build-dist: the binary
    entry_points={"console_scripts": ["engine=engine.cli:main"]},
    zip_safe=False,
)
