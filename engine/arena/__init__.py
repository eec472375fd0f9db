"""Engines as processes: specs, books, the match runners (built-in, cutechess-cli, fastchess), statistics, gating.

Drives engines over UCI with python-chess and scipy; imports no torch and nothing from :mod:`engine.nn` or :mod:`uci`.
"""
