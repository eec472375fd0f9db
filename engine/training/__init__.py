"""Training: Stockfish-labelled game generation (datagen), the shard dataset, supervised training and its tools.

May import :mod:`engine.nn` and :mod:`cython_ext`; not :mod:`engine.arena`, :mod:`engine.bench` or :mod:`uci`.
"""
