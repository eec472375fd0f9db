"""The UCI engine: options (each also a command-line flag), the protocol loop, the search driver, time management.

May import :mod:`cython_ext` and :mod:`engine.nn` (the net, loaded lazily); nothing else of :mod:`engine`.
"""
