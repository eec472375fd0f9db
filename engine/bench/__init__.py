"""Benchmarks: bench (the node-count signature), profile, perft, netbench and the side-by-side baselines.

May import :mod:`engine.nn`, :mod:`uci` (the search and the default net) and :mod:`cython_ext`; not :mod:`engine.arena` or :mod:`engine.training`.
"""
