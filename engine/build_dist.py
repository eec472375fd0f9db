"""Build the standalone engine binary for GUIs: ``dist/engine/engine`` (PyInstaller, onedir).

    pip install -e ".[dist]"              # once: PyInstaller
    engine build-dist     # -> dist/engine/engine
    engine build-dist --onefile    # -> dist/engine-onefile

Compiles the Cython extensions in place (``setup.py build_ext --inplace``; nothing to do when
they are current), runs PyInstaller on ``engine.spec`` with its work files in
``build/pyinstaller/``, then checks that the binary starts and prints where it is, its size
and the build time. Every ``nets/*.pt`` present is bundled (see engine.spec).
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import pathlib
import subprocess
import sys
import time

ROOT = pathlib.Path(__file__).resolve().parents[1]


def tree_size(path: pathlib.Path) -> int:
    """Bytes of the files under ``path`` (or of the file), links not followed."""
    if path.is_file():
        return path.stat().st_size
    return sum(p.lstat().st_size for p in path.rglob("*") if p.is_file() and not p.is_symlink())


def build(onefile: bool = False, excludes: bool = True, build_ext: bool = True, clean: bool = False) -> pathlib.Path:
    """Build the binary; returns its path.

    :raises SystemExit: when PyInstaller is missing or a build step fails.
    """
    if importlib.util.find_spec("PyInstaller") is None:
        raise SystemExit('PyInstaller is not installed: pip install -e ".[dist]"')
    if build_ext:
        subprocess.run([sys.executable, "setup.py", "-q", "build_ext", "--inplace"], cwd=ROOT, check=True)
    variant = ("onefile" if onefile else "onedir") + ("" if excludes else "-full")
    command = [sys.executable, "-m", "PyInstaller", "--noconfirm", "--log-level", "WARN",
               "--distpath", str(ROOT / "dist"), "--workpath", str(ROOT / "build" / "pyinstaller" / variant)]
    if clean:
        command.append("--clean")
    command.append(str(ROOT / "engine.spec"))
    spec_args = [flag for flag, on in (("--onefile", onefile), ("--no-excludes", not excludes)) if on]
    if spec_args:
        command += ["--", *spec_args]
    subprocess.run(command, cwd=ROOT, check=True)
    binary = ROOT / "dist" / ("engine-onefile" if onefile else os.path.join("engine", "engine"))
    version = subprocess.run([str(binary), "--version"], capture_output=True, text=True, timeout=300)
    if version.returncode != 0 or not version.stdout.strip():
        raise SystemExit(f"{binary} does not start:\n{version.stdout}{version.stderr}")
    return binary


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="engine build-dist", description=__doc__.split("\n")[0])
    parser.add_argument("--onefile", action="store_true", help="one self-unpacking file: dist/engine-onefile")
    parser.add_argument("--no-excludes", action="store_true",
                        help="PyInstaller's defaults, no exclusions (only to measure what they save)")
    parser.add_argument("--no-build-ext", action="store_true", help="do not (re)compile the Cython extensions")
    parser.add_argument("--clean", action="store_true", help="drop PyInstaller's caches first")
    args = parser.parse_args(argv)
    start = time.monotonic()
    binary = build(onefile=args.onefile, excludes=not args.no_excludes, build_ext=not args.no_build_ext,
                   clean=args.clean)
    elapsed = time.monotonic() - start
    bundle = binary if args.onefile else binary.parent
    print(f"built {binary.relative_to(ROOT)}: {tree_size(bundle) / 2**20:.0f} MiB "
          f"({bundle.relative_to(ROOT)}), {elapsed:.0f} s")
    return 0
