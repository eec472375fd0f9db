"""C-level core of the engine: game state (``position``), NN encoding (``encoding``)."""
