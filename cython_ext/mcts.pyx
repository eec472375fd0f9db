# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
"""PUCT Monte Carlo tree search with C-struct nodes and batched leaf evaluation.

The tree lives in two growable arenas (``Node`` and ``Edge`` structs): no
Python object per node. One search step is two calls, both C with the GIL
released:

* :meth:`SearchTree.gather` descends from the root up to ``n`` times. As in lc0,
  a descent waiting for the network adds a *virtual visit* to every node on its
  path; it enlarges the denominator of the exploration term only and leaves Q
  alone, so the next descent goes elsewhere only where the tree is genuinely
  uncertain. A descent that reaches a leaf already waiting is a *collision*: it
  keeps its virtual visit until :meth:`apply` and spends one unit of the
  gather's collision budget; when the budget is spent the minibatch ends. So a
  small tree is searched in small batches (almost one leaf at a time below 30
  nodes, as a sequential search would) and a large one in full batches. The
  leaves' 112-plane inputs are written into :attr:`SearchTree.planes`. Terminal
  leaves (mate, stalemate, insufficient material, 50 moves, repetition) and
  NN-cache hits are backed up at once and never reach the network.
* :meth:`SearchTree.apply` takes the network's policy logits and WDL for those
  leaves, expands them (softmax over legal moves with PolicyTemperature),
  stores them in the NN cache and backs the values up the path.

Values are stored from the point of view of the player who made the move
into a node (lc0's convention): a parent picks the child maximising
``Q + U`` with lc0's PUCT,
``U = cpuct(N) * P * sqrt(max(N - 1, 1)) / (1 + n + virtual visits)``,
``cpuct(N) = CPuct + CPuctFactor * ln((N + CPuctBase) / CPuctBase)``
(``N``, ``n``: completed visits of the parent and the child), unvisited
children get the first-play urgency
``-Q(parent) - FpuValue * sqrt(sum of visited priors)``, and a move proven
to lose gets no exploration term at all (lc0 zeroes its prior).

A leaf whose side to move has a move that draws at once (stalemate, insufficient material,
50 moves, threefold repetition) and whose network value is below a draw is scored as that draw,
and stays so: the player to move would take it. As the mate scan does for mates, this makes a
draw in one count at the first expansion, where a few hundred playouts may never visit a
low-prior repeating reply.

Proven results propagate: a move into checkmate is a proven win; a node with
a proven-winning child is a proven loss for the player who moved into it,
and one whose children are all proven losses is a proven win. Mate distances
are kept so the UCI layer can print ``score mate N``.

Profiling (``engine profile``): with :attr:`SearchTree.profiling` set, gather,
apply and clear charge their monotonic clock time to three buckets -- game
state (move generation, make/unmake, terminal checks), encoding (input planes
and policy indices) and tree (selection, expansion, backup, NN cache) -- read
back with :attr:`SearchTree.profile`. Switched off, each switch point costs
one untaken branch.
"""

import numpy as np
cimport numpy as cnp
from libc.math cimport sqrt, log, exp
from libc.stdlib cimport malloc, realloc, free, calloc
from libc.string cimport memset
from libc.stdint cimport uint64_t, int8_t
from posix.time cimport clock_gettime, timespec, CLOCK_MONOTONIC

from cython_ext.position cimport (
    Board, Position, Move, position_new, position_free, position_copy, generate_legal,
    make_move, unmake_move, in_check, insufficient_material, MAX_MOVES,
)
from cython_ext.encoding cimport encode_position, move_policy_index, INPUT_PLANES, POLICY_SIZE

cnp.import_array()

cdef enum:
    BOUND_NONE = 0
    BOUND_WIN = 1     # the player who moved into the node wins
    BOUND_LOSS = 2    # ... loses
    BOUND_DRAW = 3
    MAX_DEPTH = 256
    MAX_COLLISIONS = 1024   # collision paths one gather can hold (the budget is capped to it)

cdef enum:
    # Profiling buckets; IDLE collects the time outside gather/apply/clear and is never reported.
    PROFILE_IDLE = 0
    PROFILE_STATE = 1
    PROFILE_ENCODING = 2
    PROFILE_TREE = 3
    PROFILE_BUCKETS = 4

PROFILE_NAMES = {PROFILE_STATE: "state", PROFILE_ENCODING: "encoding", PROFILE_TREE: "tree"}

BOUND_NAMES = {BOUND_NONE: None, BOUND_WIN: "win", BOUND_LOSS: "loss", BOUND_DRAW: "draw"}

cdef struct Node:
    int first_edge       # index of the first edge, valid once expanded
    int num_edges
    int visits
    int in_flight        # descents through this node awaiting the network
    double wl_sum        # sum of (win - loss) for the player who moved into the node
    double d_sum         # sum of draw probability
    int8_t expanded
    int8_t bound
    int bound_plies      # WIN/LOSS: plies to the end of the game; a twofold DRAW: plies back to
                         # the earlier occurrence (0 for every other draw)

cdef struct Edge:
    Move move
    float prior
    int child            # node index, -1 until first visited

cdef struct CacheEntry:
    uint64_t key
    float wl
    float d
    int num_moves
    float* priors        # in generate_legal order

cdef struct Pending:
    uint64_t key         # NN cache key of the leaf
    int depth
    int num_moves
    int mate_move        # index of a move that mates at once, -1 if none
    bint draw_available  # the side to move has a move that draws at once
    int path[MAX_DEPTH + 1]


cdef inline uint64_t _rotl(uint64_t x, int k) noexcept nogil:
    return (x << k) | (x >> (64 - k))


cdef inline double _monotonic() noexcept nogil:
    cdef timespec now
    clock_gettime(CLOCK_MONOTONIC, &now)
    return now.tv_sec + now.tv_nsec * 1e-9


cdef uint64_t _nn_key(const Position* pos) noexcept nogil:
    """Key of everything the network sees: the last 8 positions and the rule-50 count."""
    cdef uint64_t key = pos.st.key ^ (<uint64_t>pos.st.halfmove * 0x9E3779B97F4A7C15ULL)
    cdef int i
    for i in range(1, 8):
        if pos.ply - i < 0:
            break
        key ^= _rotl(pos.history[pos.ply - i].key, i * 7)
    return key


cdef class SearchTree:
    """A PUCT search tree over one root position. See the module docstring.

    >>> from cython_ext.position import Board
    >>> import numpy as np
    >>> tree = SearchTree(max_batch=8)
    >>> tree.set_position(Board())
    False
    >>> n = tree.gather(8)
    >>> tree.apply(np.zeros((n, 1858), np.float32), np.full((n, 3), 1 / 3, np.float32))
    >>> tree.root_visits
    1
    """
    cdef Position* root_pos
    cdef Position* walk
    cdef Node* nodes
    cdef Edge* edges
    cdef int num_nodes, node_capacity, num_edges, edge_capacity
    cdef int root
    cdef CacheEntry* cache
    cdef int cache_size, cache_used
    cdef Pending* pending
    cdef Move* pending_moves
    cdef int* pending_indices
    cdef int num_pending
    cdef int* collision_paths     # MAX_COLLISIONS paths of MAX_DEPTH + 1 node indices
    cdef int* collision_depths
    cdef int num_collisions
    cdef int _path[MAX_DEPTH + 1]  # scratch path for tree walks outside gather
    cdef readonly int max_batch
    cdef readonly object planes
    cdef float* planes_ptr
    cdef public double cpuct, cpuct_base, cpuct_factor, fpu_value, policy_temperature
    cdef readonly long long collisions, cache_hits, terminal_hits, depth_sum, leaves
    cdef readonly int max_depth
    cdef public bint profiling
    cdef double profile_seconds[PROFILE_BUCKETS]
    cdef double profile_lap
    cdef int profile_bucket

    def __cinit__(self, int max_batch=256, int cache_size=200000):
        if max_batch < 1 or cache_size < 0:
            raise ValueError("max_batch must be >= 1 and cache_size >= 0")
        self.root_pos = position_new()
        self.walk = position_new()
        self.node_capacity = 1024
        self.edge_capacity = 32768
        self.nodes = <Node*>malloc(self.node_capacity * sizeof(Node))
        self.edges = <Edge*>malloc(self.edge_capacity * sizeof(Edge))
        self.cache_size = cache_size
        self.cache = <CacheEntry*>calloc(max(cache_size, 1), sizeof(CacheEntry))
        self.max_batch = max_batch
        self.pending = <Pending*>malloc(max_batch * sizeof(Pending))
        self.pending_moves = <Move*>malloc(max_batch * MAX_MOVES * sizeof(Move))
        self.pending_indices = <int*>malloc(max_batch * MAX_MOVES * sizeof(int))
        self.collision_paths = <int*>malloc(MAX_COLLISIONS * (MAX_DEPTH + 1) * sizeof(int))
        self.collision_depths = <int*>malloc(MAX_COLLISIONS * sizeof(int))
        self.num_collisions = 0
        if (self.collision_paths == NULL or self.collision_depths == NULL or self.root_pos == NULL or self.walk == NULL or self.nodes == NULL or self.edges == NULL
                or self.cache == NULL or self.pending == NULL or self.pending_moves == NULL
                or self.pending_indices == NULL):
            raise MemoryError("cannot allocate the search tree")
        self.planes = np.zeros((max_batch, INPUT_PLANES, 8, 8), dtype=np.float32)
        self.planes_ptr = <float*>cnp.PyArray_DATA(self.planes)
        # lc0's defaults.
        self.cpuct = 1.745
        self.cpuct_base = 38739.0
        self.cpuct_factor = 3.894
        self.fpu_value = 0.330
        self.policy_temperature = 1.359
        self.num_nodes = 0
        self.root = -1
        self.profiling = False
        self.reset_profile()

    def __dealloc__(self):
        self._clear_cache()
        free(self.cache)
        free(self.nodes)
        free(self.edges)
        free(self.pending)
        free(self.pending_moves)
        free(self.pending_indices)
        free(self.collision_paths)
        free(self.collision_depths)
        position_free(self.root_pos)
        position_free(self.walk)

    # -- arenas -----------------------------------------------------------

    cdef int _new_node(self) noexcept nogil:
        cdef Node* grown
        if self.num_nodes == self.node_capacity:
            grown = <Node*>realloc(self.nodes, 2 * self.node_capacity * sizeof(Node))
            if grown == NULL:
                return -1
            self.nodes = grown
            self.node_capacity *= 2
        memset(&self.nodes[self.num_nodes], 0, sizeof(Node))
        self.num_nodes += 1
        return self.num_nodes - 1

    cdef int _new_edges(self, int count) noexcept nogil:
        cdef Edge* grown
        cdef int capacity = self.edge_capacity
        while self.num_edges + count > capacity:
            capacity *= 2
        if capacity != self.edge_capacity:
            grown = <Edge*>realloc(self.edges, capacity * sizeof(Edge))
            if grown == NULL:
                return -1
            self.edges = grown
            self.edge_capacity = capacity
        self.num_edges += count
        return self.num_edges - count

    cdef void _clear_cache(self) noexcept nogil:
        cdef int i
        for i in range(self.cache_size):
            free(self.cache[i].priors)
            self.cache[i].priors = NULL
            self.cache[i].key = 0
        self.cache_used = 0

    def clear(self) -> None:
        """Forget the tree and the NN cache (``ucinewgame``)."""
        self._charge(PROFILE_TREE)
        self._clear_cache()
        self._charge(PROFILE_IDLE)
        self.num_nodes = 0
        self.num_edges = 0
        self.num_pending = self.num_collisions = 0
        self.root = -1

    @property
    def memory_bytes(self) -> int:
        """Bytes used by the tree arenas (the NN cache not included)."""
        return self.num_nodes * sizeof(Node) + self.num_edges * sizeof(Edge)

    # -- profiling ----------------------------------------------------------

    cdef inline void _charge(self, int bucket) noexcept nogil:
        """When profiling: charge the time since the last switch to the current bucket, then switch."""
        cdef double now
        if self.profiling:
            now = _monotonic()
            self.profile_seconds[self.profile_bucket] += now - self.profile_lap
            self.profile_lap = now
            self.profile_bucket = bucket

    def reset_profile(self) -> None:
        """Zero the profiling buckets."""
        cdef int i
        for i in range(PROFILE_BUCKETS):
            self.profile_seconds[i] = 0.0
        self.profile_bucket = PROFILE_IDLE
        self.profile_lap = _monotonic()

    @property
    def profile(self) -> dict:
        """Seconds spent in gather/apply/clear while :attr:`profiling`: ``state``, ``encoding`` and ``tree``."""
        return {name: self.profile_seconds[bucket] for bucket, name in PROFILE_NAMES.items()}

    # -- root -------------------------------------------------------------

    def set_position(self, Board board) -> bool:
        """Search ``board`` next. Returns True when the old tree's subtree was reused.

        The tree is reused when ``board`` continues the game of the previous root
        (same history up to it, followed by moves that exist in the tree).
        """
        cdef Position* new = board.pos
        cdef Position* old = self.root_pos
        cdef int i, node, e
        cdef bint reuse = self.root >= 0 and new.ply >= old.ply
        if reuse:
            for i in range(old.ply):
                if new.history[i].key != old.history[i].key or new.history[i].move != old.history[i].move:
                    reuse = False
                    break
        if reuse and (new.history[old.ply].key if new.ply > old.ply else new.st.key) != old.st.key:
            reuse = False
        if reuse:
            node = self.root
            for i in range(old.ply, new.ply):
                if not reuse:
                    break
                if not self.nodes[node].expanded:
                    reuse = False
                    break
                for e in range(self.nodes[node].first_edge, self.nodes[node].first_edge + self.nodes[node].num_edges):
                    if self.edges[e].move == new.history[i].move and self.edges[e].child >= 0:
                        node = self.edges[e].child
                        break
                else:
                    reuse = False
        self._release_collisions()  # before the arenas may be reset
        if position_copy(self.root_pos, new) != 0:
            raise MemoryError("cannot copy the position")
        if reuse:
            self.root = node
            self.nodes[node].bound = BOUND_NONE  # the root is searched, never scored as a leaf
            if not self.nodes[node].expanded:  # a terminal leaf's visits were its score's
                self.nodes[node].visits = 0
                self.nodes[node].wl_sum = self.nodes[node].d_sum = 0.0
            self._path[0] = node
            self._revert_stale_twofolds(self._path, 0)
        else:
            self.num_nodes = 0
            self.num_edges = 0
            self.root = self._new_node()
        self.collisions = self.cache_hits = self.terminal_hits = self.depth_sum = self.leaves = 0
        self.max_depth = 0
        return reuse

    def exclude_root_moves(self, allowed) -> None:
        """Restrict the search to ``allowed`` root moves (UCI ``go searchmoves``).

        Needs an expanded root; other root moves get prior -1 and are never selected.
        """
        cdef Node* root = &self.nodes[self.root]
        cdef int e
        board = self._root_board()
        names = board.legal_moves
        allowed = set(allowed)
        cdef Move moves[MAX_MOVES]
        cdef int n = generate_legal(self.root_pos, moves), i
        if not root.expanded:
            raise RuntimeError("the root must be expanded first")
        for e in range(root.first_edge, root.first_edge + root.num_edges):
            for i in range(n):
                if moves[i] == self.edges[e].move and names[i] not in allowed:
                    self.edges[e].prior = -1.0

    def add_root_noise(self, double epsilon, noise) -> None:
        """Mix Dirichlet ``noise`` (one value per root move) into the root priors (self-play)."""
        cdef Node* root = &self.nodes[self.root]
        cdef int e, i = 0
        if not root.expanded or len(noise) != root.num_edges:
            raise ValueError("noise needs an expanded root and one value per root move")
        for e in range(root.first_edge, root.first_edge + root.num_edges):
            self.edges[e].prior = (1 - epsilon) * self.edges[e].prior + epsilon * noise[i]
            i += 1

    cdef object _root_board(self):
        cdef Board board = Board.__new__(Board)
        position_copy(board.pos, self.root_pos)
        return board

    # -- search -----------------------------------------------------------

    cdef void _revert_stale_twofolds(self, int* path, int depth) noexcept nogil:
        """Undo twofold draws whose earlier occurrence is no longer inside the tree (lc0).

        After the root moves on, a repetition of a position now before the root is not a draw
        any more: its draw visits are taken back from it and its ancestors and it becomes a
        plain unvisited leaf again.
        """
        cdef Node* node = &self.nodes[path[depth]]
        cdef int i, e, child, k
        if node.bound == BOUND_DRAW and node.bound_plies > depth:
            k = node.visits
            for i in range(depth):
                self.nodes[path[i]].visits -= k
                self.nodes[path[i]].d_sum -= k  # a draw backs up wl 0 and d 1 at every level
            node.visits = 0
            node.wl_sum = node.d_sum = 0.0
            node.bound = BOUND_NONE
            node.bound_plies = 0
            return
        if not node.expanded or depth + 1 >= MAX_DEPTH:
            return
        for e in range(node.first_edge, node.first_edge + node.num_edges):
            child = self.edges[e].child
            if child >= 0:
                path[depth + 1] = child
                self._revert_stale_twofolds(path, depth + 1)

    cdef int _select(self, int node_index) noexcept nogil:
        # lc0's PUCT: completed visits for Q, cpuct and the sqrt; virtual visits (in flight) only
        # in the exploration term's denominator.
        cdef Node* node = &self.nodes[node_index]
        cdef Node* child
        cdef Edge* edge
        cdef int parent_n = node.visits
        cdef double cpuct = self.cpuct + self.cpuct_factor * log((parent_n + self.cpuct_base) / self.cpuct_base)
        cdef double u_coef = cpuct * sqrt(<double>(parent_n - 1 if parent_n > 1 else 1))
        cdef double visited_policy = 0.0, fpu, q, score, best_score = -1e300
        cdef int e, best = -1, started
        for e in range(node.first_edge, node.first_edge + node.num_edges):
            edge = &self.edges[e]
            if edge.child >= 0 and self.nodes[edge.child].visits > 0:
                visited_policy += edge.prior
        fpu = (-node.wl_sum / node.visits if node.visits > 0 else 0.0) - self.fpu_value * sqrt(visited_policy)
        for e in range(node.first_edge, node.first_edge + node.num_edges):
            edge = &self.edges[e]
            if edge.prior < 0:
                continue  # excluded by searchmoves
            started = 0
            q = fpu
            if edge.child >= 0:
                child = &self.nodes[edge.child]
                started = child.visits + child.in_flight
                if child.bound == BOUND_LOSS:
                    score = -1.0  # a lost move: no exploration (lc0 sets its prior to 0)
                    if score > best_score:
                        best_score = score
                        best = e
                    continue
                if child.bound == BOUND_WIN:
                    q = 1.0
                elif child.bound == BOUND_DRAW:
                    q = 0.0
                elif child.visits > 0:
                    q = child.wl_sum / child.visits
            score = q + u_coef * edge.prior / (1 + started)
            if score > best_score:
                best_score = score
                best = e
        return best

    cdef void _backup(self, int* path, int depth, double wl, double d, bint release) noexcept nogil:
        """Add one visit of value ``wl`` (for the player who moved into path[depth])."""
        cdef int i
        cdef Node* node
        for i in range(depth, -1, -1):
            node = &self.nodes[path[i]]
            node.visits += 1
            node.wl_sum += wl
            node.d_sum += d
            if release:
                node.in_flight -= 1
            wl = -wl

    cdef void _prove(self, int* path, int depth) noexcept nogil:
        """Propagate a proven result at path[depth] towards the root."""
        cdef int i, e, child, best_win, worst_loss
        cdef bint all_lost
        cdef Node* node
        for i in range(depth - 1, -1, -1):
            node = &self.nodes[path[i]]
            best_win = -1
            worst_loss = -1
            all_lost = True
            for e in range(node.first_edge, node.first_edge + node.num_edges):
                child = self.edges[e].child
                if child < 0 or self.nodes[child].bound != BOUND_LOSS:
                    all_lost = False
                if child >= 0 and self.nodes[child].bound == BOUND_WIN:
                    if best_win < 0 or self.nodes[child].bound_plies < best_win:
                        best_win = self.nodes[child].bound_plies
                if child >= 0 and self.nodes[child].bound == BOUND_LOSS:
                    if self.nodes[child].bound_plies > worst_loss:
                        worst_loss = self.nodes[child].bound_plies
            if best_win >= 0:
                node.bound = BOUND_LOSS
                node.bound_plies = best_win + 1
            elif all_lost and node.num_edges > 0:
                node.bound = BOUND_WIN
                node.bound_plies = worst_loss + 1
            else:
                return

    cdef int _terminal(self, int* path, int depth, int num_moves) noexcept nogil:
        """Classify the walk position (a leaf at ``depth``); set its bound. 0 if not terminal."""
        cdef Node* node = &self.nodes[path[depth]]
        cdef Position* pos = self.walk
        cdef int i, end
        if num_moves == 0:
            if in_check(pos):
                node.bound = BOUND_WIN
                node.bound_plies = 1
            else:
                node.bound = BOUND_DRAW
            return 1
        if insufficient_material(pos) or pos.st.halfmove >= 100 or pos.st.repetition >= 2:
            node.bound = BOUND_DRAW
            return 1
        if pos.st.repetition == 1:
            # Twofold counts as a draw when the earlier occurrence is inside the tree.
            end = pos.st.halfmove if pos.st.halfmove < depth else depth
            i = 4
            while i <= end:
                if pos.history[pos.ply - i].key == pos.st.key:
                    node.bound = BOUND_DRAW
                    node.bound_plies = i  # stale once the earlier occurrence leaves the tree
                    return 1
                i += 2
        return 0

    cdef int _scan_moves(self, Move* moves, int num_moves, bint* draw_available) noexcept nogil:
        """Index of a move of the walk position that checkmates, or -1; sets ``draw_available``
        when some move ends the game in a draw at once (stalemate, insufficient material,
        50 moves, threefold repetition).

        A few microseconds per expansion, against ~100 for a network call: it makes
        every mate in one exact at its first expansion, even with an untrained net.
        """
        cdef Move replies[MAX_MOVES]
        cdef int i, num_replies
        draw_available[0] = False
        for i in range(num_moves):
            make_move(self.walk, moves[i])
            num_replies = generate_legal(self.walk, replies)
            if num_replies == 0 and in_check(self.walk):  # the check test only where no reply is left
                unmake_move(self.walk)
                return i
            if num_replies == 0 or insufficient_material(self.walk) or self.walk.st.halfmove >= 100 \
                    or self.walk.st.repetition >= 2:
                draw_available[0] = True
            unmake_move(self.walk)
        return -1

    cdef void _back_up_leaf(self, int* path, int depth, double wl, double d, bint draw_available,
                            bint release) noexcept nogil:
        """Back up a new leaf's network value ``wl``/``d`` (for its side to move), scored as a
        draw when the side to move has one at once and stands worse."""
        if draw_available and wl < 0.0:
            self.nodes[path[depth]].bound = BOUND_DRAW
            self.nodes[path[depth]].bound_plies = 0
            wl, d = 0.0, 1.0
        self._backup(path, depth, -wl, d, release)

    cdef void _add_mating_child(self, int* path, int depth, int node_index, int mate_move) noexcept nogil:
        """Attach the proven-win child of a mate in one and prove its ancestors."""
        cdef int child = self._new_node()
        if child < 0:
            return
        self.nodes[child].bound = BOUND_WIN
        self.nodes[child].bound_plies = 1
        self.edges[self.nodes[node_index].first_edge + mate_move].child = child
        path[depth + 1] = child
        self._prove(path, depth + 1)

    cdef void _expand(self, int node_index, Move* moves, float* priors, int num_moves) noexcept nogil:
        cdef int first = self._new_edges(num_moves), i
        cdef Node* node = &self.nodes[node_index]
        if first < 0:
            return
        for i in range(num_moves):
            self.edges[first + i].move = moves[i]
            self.edges[first + i].prior = priors[i]
            self.edges[first + i].child = -1
        node.first_edge = first
        node.num_edges = num_moves
        node.expanded = 1

    cdef CacheEntry* _cache_slot(self, uint64_t key) noexcept nogil:
        if self.cache_size == 0:
            return NULL
        return &self.cache[key % <uint64_t>self.cache_size]

    cdef void _release_collisions(self) noexcept nogil:
        """Take back the virtual visits of the last gather's collisions."""
        cdef int k, i
        cdef int* path
        for k in range(self.num_collisions):
            path = &self.collision_paths[k * (MAX_DEPTH + 1)]
            for i in range(self.collision_depths[k] + 1):
                self.nodes[path[i]].in_flight -= 1
        self.num_collisions = 0

    cdef int _gather(self, int limit, int collision_budget) noexcept nogil:
        cdef int n = 0, attempts = 0, depth, node, e, num_moves, child, i, mate_move
        cdef bint draw_available
        cdef int path[MAX_DEPTH + 1]
        cdef Move moves[MAX_MOVES]
        cdef Node* leaf
        cdef CacheEntry* slot
        cdef uint64_t key
        cdef Pending* p
        if limit > self.max_batch:
            limit = self.max_batch
        if collision_budget > MAX_COLLISIONS:
            collision_budget = MAX_COLLISIONS
        self._release_collisions()
        self.num_pending = 0
        self._charge(PROFILE_STATE)
        if position_copy(self.walk, self.root_pos) != 0:
            return -1
        self._charge(PROFILE_TREE)
        # Each attempt is one descent; collisions and instant backups also consume attempts,
        # which bounds the loop when the tree is small or fully in flight.
        while n < limit and attempts < 2 * limit + 8 and self.num_collisions < collision_budget:
            attempts += 1
            node = self.root
            depth = 0
            path[0] = node
            while True:
                leaf = &self.nodes[node]
                if depth > 0 and leaf.bound != BOUND_NONE:
                    self.terminal_hits += 1
                    if leaf.bound == BOUND_WIN:
                        self._backup(path, depth, 1.0, 0.0, False)
                    elif leaf.bound == BOUND_LOSS:
                        self._backup(path, depth, -1.0, 0.0, False)
                    else:
                        self._backup(path, depth, 0.0, 1.0, False)
                    break
                if not leaf.expanded:
                    if leaf.in_flight > 0:
                        # A collision: its virtual visit steers the next descents (U only) until apply.
                        self.collisions += 1
                        self.collision_depths[self.num_collisions] = depth
                        for i in range(depth + 1):
                            self.collision_paths[self.num_collisions * (MAX_DEPTH + 1) + i] = path[i]
                            self.nodes[path[i]].in_flight += 1
                        self.num_collisions += 1
                        break
                    self._charge(PROFILE_STATE)
                    num_moves = generate_legal(self.walk, moves)
                    if depth > 0 and self._terminal(path, depth, num_moves):
                        self._charge(PROFILE_TREE)
                        self.terminal_hits += 1
                        self._prove(path, depth)
                        continue  # re-enter: the bound branch above backs it up
                    mate_move = self._scan_moves(moves, num_moves, &draw_available)
                    draw_available = draw_available and depth > 0  # the root is searched, never scored
                    self._charge(PROFILE_TREE)
                    key = _nn_key(self.walk)
                    slot = self._cache_slot(key)
                    if slot != NULL and slot.priors != NULL and slot.key == key and slot.num_moves == num_moves:
                        self.cache_hits += 1
                        self._expand(node, moves, slot.priors, num_moves)
                        if mate_move >= 0:
                            self._add_mating_child(path, depth, node, mate_move)
                            self._backup(path, depth, -1.0, 0.0, False)
                        else:
                            self._back_up_leaf(path, depth, slot.wl, slot.d, draw_available, False)
                        break
                    p = &self.pending[n]
                    p.key = key
                    p.mate_move = mate_move
                    p.draw_available = draw_available
                    p.depth = depth
                    p.num_moves = num_moves
                    for i in range(depth + 1):
                        p.path[i] = path[i]
                        self.nodes[path[i]].in_flight += 1
                    self._charge(PROFILE_ENCODING)
                    for i in range(num_moves):
                        self.pending_moves[n * MAX_MOVES + i] = moves[i]
                        self.pending_indices[n * MAX_MOVES + i] = move_policy_index(self.walk, moves[i])
                    encode_position(self.walk, self.planes_ptr + n * INPUT_PLANES * 64)
                    self._charge(PROFILE_TREE)
                    self.depth_sum += depth
                    self.leaves += 1
                    if depth > self.max_depth:
                        self.max_depth = depth
                    n += 1
                    break
                if depth + 1 >= MAX_DEPTH:
                    break
                e = self._select(node)
                if e < 0:
                    break
                child = self.edges[e].child
                if child < 0:
                    child = self._new_node()
                    if child < 0:
                        break
                    self.edges[e].child = child
                self._charge(PROFILE_STATE)
                make_move(self.walk, self.edges[e].move)
                self._charge(PROFILE_TREE)
                depth += 1
                path[depth] = child
                node = child
            self._charge(PROFILE_STATE)
            while self.walk.ply > self.root_pos.ply:
                unmake_move(self.walk)
            self._charge(PROFILE_TREE)
        self.num_pending = n
        return n

    def gather(self, int limit, int collisions=MAX_COLLISIONS) -> int:
        """Collect up to ``limit`` leaves for the network; their inputs fill ``planes[:n]``.

        The gather also ends after ``collisions`` descents that met a leaf already waiting
        (see :func:`collision_budget` for lc0's schedule); 0 leaves means nothing can be
        gathered until :meth:`apply`.
        """
        if self.root < 0:
            raise RuntimeError("set_position() first")
        cdef int n
        with nogil:
            self._charge(PROFILE_TREE)
            n = self._gather(limit, collisions if collisions > 0 else 1)
            self._charge(PROFILE_IDLE)
        if n < 0:
            raise MemoryError("search tree ran out of memory")
        return n

    cdef void _apply(self, const float[:, ::1] policy, const float[:, ::1] wdl) noexcept nogil:
        cdef int k, i, num_moves
        cdef Pending* p
        cdef float priors[MAX_MOVES]
        cdef float logit
        cdef double top, total, wl
        cdef CacheEntry* slot
        cdef double inv_t = 1.0 / (self.policy_temperature if self.policy_temperature > 1e-3 else 1e-3)
        for k in range(self.num_pending):
            p = &self.pending[k]
            num_moves = p.num_moves
            top = -1e30
            for i in range(num_moves):
                logit = policy[k, self.pending_indices[k * MAX_MOVES + i]]
                if logit > top:
                    top = logit
            total = 0.0
            for i in range(num_moves):
                priors[i] = <float>exp((policy[k, self.pending_indices[k * MAX_MOVES + i]] - top) * inv_t)
                total += priors[i]
            for i in range(num_moves):
                priors[i] = <float>(priors[i] / total)
            self._expand(p.path[p.depth], &self.pending_moves[k * MAX_MOVES], priors, num_moves)
            wl = wdl[k, 0] - wdl[k, 2]  # for the side to move at the leaf
            if p.mate_move >= 0:
                self._add_mating_child(p.path, p.depth, p.path[p.depth], p.mate_move)
                self._backup(p.path, p.depth, -1.0, 0.0, True)
            else:
                self._back_up_leaf(p.path, p.depth, wl, wdl[k, 1], p.draw_available, True)
            slot = self._cache_slot(p.key)
            if slot == NULL:
                continue
            if slot.priors == NULL:
                self.cache_used += 1
            free(slot.priors)
            slot.priors = <float*>malloc((num_moves if num_moves > 0 else 1) * sizeof(float))
            if slot.priors == NULL:
                self.cache_used -= 1
                continue
            for i in range(num_moves):
                slot.priors[i] = priors[i]
            slot.key = p.key
            slot.num_moves = num_moves
            slot.wl = <float>wl
            slot.d = wdl[k, 1]
        self.num_pending = 0
        self._release_collisions()

    def apply(self, policy_logits, wdl) -> None:
        """Expand the gathered leaves with the network's outputs and back them up.

        ``policy_logits``: float32 (n, 1858); ``wdl``: float32 (n, 3) probabilities
        for the side to move at each leaf.
        """
        cdef const float[:, ::1] policy = np.ascontiguousarray(policy_logits, dtype=np.float32)
        cdef const float[:, ::1] values = np.ascontiguousarray(wdl, dtype=np.float32)
        if policy.shape[0] < self.num_pending or policy.shape[1] != POLICY_SIZE or values.shape[0] < self.num_pending:
            raise ValueError(f"expected {self.num_pending} rows of 1858 logits and 3 WDL values")
        with nogil:
            self._charge(PROFILE_TREE)
            self._apply(policy, values)
            self._charge(PROFILE_IDLE)

    # -- results ----------------------------------------------------------

    @property
    def root_visits(self) -> int:
        return self.nodes[self.root].visits if self.root >= 0 else 0

    @property
    def num_nodes(self) -> int:
        return self.num_nodes

    @property
    def root_expanded(self) -> bool:
        return self.root >= 0 and bool(self.nodes[self.root].expanded)

    @property
    def root_bound(self):
        """``'win'``/``'loss'``/``None`` for the side to move at the root, and its mate plies."""
        cdef Node* root = &self.nodes[self.root]
        if root.bound == BOUND_LOSS:  # the player who moved into the root loses: we win
            return "win", root.bound_plies - 1
        if root.bound == BOUND_WIN:
            return "loss", root.bound_plies - 1
        return None, 0

    @property
    def top_two_visits(self) -> tuple:
        """Visits of the two most visited root children (0 when absent); cheap, for smart pruning."""
        cdef Node* root = &self.nodes[self.root]
        cdef int e, child, visits, first = 0, second = 0
        for e in range(root.first_edge, root.first_edge + (root.num_edges if root.expanded else 0)):
            child = self.edges[e].child
            visits = self.nodes[child].visits if child >= 0 else 0
            if visits > first:
                first, second = visits, first
            elif visits > second:
                second = visits
        return first, second

    @property
    def hashfull(self) -> int:
        """NN cache occupancy in permille (UCI ``hashfull``)."""
        return 0 if self.cache_size == 0 else 1000 * self.cache_used // self.cache_size

    def children(self, moves=()) -> list:
        """Children of the root, or of the node reached by ``moves`` (UCI) from it, best first.

        See :func:`_child_order`; each is a dict with keys ``move`` (UCI), ``visits``, ``q``
        (win - loss for the side to move at that node), ``d``, ``prior``, ``bound``
        (None/'win'/'loss'/'draw' for that side), ``plies`` (to the end of the game when
        proven). A line that leaves the tree gives ``[]``.
        """
        cdef Board board = self._root_board()
        node = self.root
        for move in moves:
            kids = [k for k in self._children(node, board) if k["move"] == move]
            if not kids or kids[0]["node"] < 0:
                return []
            make_move(board.pos, kids[0]["code"])
            node = kids[0]["node"]
        return self._children(node, board)

    cdef list _children(self, int node_index, Board board):
        cdef Move moves[MAX_MOVES]
        cdef int n = generate_legal(board.pos, moves), i, e, child
        cdef Node* node = &self.nodes[node_index]
        result = []
        if not node.expanded:
            return result
        names = board.legal_moves
        name_of = {moves[i]: names[i] for i in range(n)}
        for e in range(node.first_edge, node.first_edge + node.num_edges):
            child = self.edges[e].child
            visits = self.nodes[child].visits if child >= 0 else 0
            item = {"move": name_of[self.edges[e].move], "visits": visits, "prior": self.edges[e].prior,
                    "q": 0.0, "d": 0.0, "bound": None, "plies": 0, "node": child, "code": self.edges[e].move}
            if child >= 0:
                if visits:
                    item["q"] = self.nodes[child].wl_sum / visits
                    item["d"] = self.nodes[child].d_sum / visits
                item["bound"] = BOUND_NAMES[self.nodes[child].bound]
                item["plies"] = self.nodes[child].bound_plies
                if item["bound"] is not None:
                    item["q"], item["d"] = _BOUND_VALUES[item["bound"]]
            result.append(item)
        result.sort(key=_child_order, reverse=True)
        return result

    def principal_variation(self, first_move=None, int max_length=64) -> list:
        """Best line from the root by :func:`_child_order` (starting with ``first_move`` if given)."""
        cdef Board board = self._root_board()
        line = []
        node = self.root
        while len(line) < max_length and node >= 0:
            kids = self._children(node, board)
            if first_move is not None and not line:
                kids = [k for k in kids if k["move"] == first_move]
            if not kids or (kids[0]["visits"] == 0 and kids[0]["bound"] is None):
                break
            line.append(kids[0]["move"])
            make_move(board.pos, kids[0]["code"])
            node = kids[0]["node"]
        return line


_BOUND_VALUES = {"win": (1.0, 0.0), "loss": (-1.0, 0.0), "draw": (0.0, 1.0)}

COLLISION_SCALING_START = 28
COLLISION_SCALING_END = 145_000
COLLISION_SCALING_POWER = 1.25
MAX_COLLISION_VISITS = 80_000


def collision_budget(int nodes) -> int:
    """Collisions one gather may spend in a tree of ``nodes`` visits: lc0's schedule.

    ``nodes`` is the smaller of the root's visits and the playouts still to search. 1 up to
    28 nodes, then ``1 + 79999 * ((nodes - 28) / 144972) ** 1.25``: 7 at 100 nodes, 19 at 200,
    47 at 400, 116 at 800 (lc0's MaxCollisionVisits and its scaling defaults).

    >>> [collision_budget(n) for n in (10, 100, 200, 400, 800)]
    [1, 7, 19, 47, 116]
    """
    if nodes <= COLLISION_SCALING_START:
        return 1
    if nodes >= COLLISION_SCALING_END:
        return MAX_COLLISION_VISITS
    share = (nodes - COLLISION_SCALING_START) / (COLLISION_SCALING_END - COLLISION_SCALING_START)
    return int(round(1 + (MAX_COLLISION_VISITS - 1) * share ** COLLISION_SCALING_POWER))


def _child_order(item):
    # Proven wins first (shortest), proven losses last (longest), else visits, then Q, then the
    # prior: with no visits at all (a 1-node search, a clock at zero) the policy's move wins.
    if item["bound"] == "win":
        return (2, -item["plies"], 0.0, 0.0)
    if item["bound"] == "loss":
        return (-1, item["plies"], 0.0, 0.0)
    return (0, item["visits"], item["q"], item["prior"])
