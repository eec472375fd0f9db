"""C-level core of the engine: game state (``position``), NN encoding (``encoding``), the search tree
(``mcts``) and the Winograd convolution kernels (``winograd``).

Imports numpy only; nothing here knows of torch, UCI or the ``engine`` package.
"""
