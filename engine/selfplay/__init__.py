"""Self-play reinforcement learning: actors, the batched inference server, the replay buffer, the trainer stage, gating, and the run that ties them (locally or on Ray).

May import :mod:`engine.nn`, :mod:`engine.training`, :mod:`engine.arena` and :mod:`cython_ext`; not :mod:`uci` or :mod:`engine.bench`.
"""
