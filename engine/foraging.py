"""The ``foraging`` world of the Neuraxon task (algo 0) and an agent's lifetime in it.

A world is a bounded integer grid: terrain (land / rock) grown from random rock with Game-of-Life
style smoothing, food sources on land that deplete and respawn, and a start cell. An agent with a
Neuraxon brain senses six trits each tick, runs the network, and moves by its two output trits.
Everything here is integer except the network and the meta signal; docs/neuraxon-task.md gives the
exact order of operations.

Arrays: ``terrain`` uint8[H, W] (1 = rock), ``food`` int32[F, 2] (x, y; -1 = unused slot),
``start`` int32[2] (x, y), ``env`` int64[N_ENV] (indices ``E_*``).

:func:`live_traced` is the lifetime itself; it also records each tick (``trace`` int64[ticks,
N_TRACE], columns ``T_*``; ``food_trace`` int32[ticks, F], units left at each source) when given
room for it. :func:`live` is the same lifetime with no room, so a recorded replay and a scored
lifetime are one code path and agree bit for bit.
"""

from __future__ import annotations

import numpy as np

from engine import neuraxon_kernels as K
from engine._exact import exact_mul
from engine._jit import njit
from engine.rng import below

# Indices into the integer environment vector ``env``.
E_FOOD_UNITS = 0
E_RESPAWN = 1
E_ENERGY_START = 2
E_ENERGY_MAX = 3
E_ENERGY_FOOD = 4
E_METABOLISM = 5
E_COLLISION_COST = 6
E_SENSE_RADIUS = 7
E_BLOCKED_WINDOW = 8
E_BLOCKED_HITS = 9
E_CLEAR_STREAK = 10
N_ENV = 11

#: Sensor trits (input neuron order) and motor trits (the last two neurons).
N_SENSORS = 6
N_MOTORS = 2

# Lifetime statistics (``stats`` int64[N_STATS]).
S_FOOD = 0
S_EXPLORED = 1
S_TICKS = 2
S_COLLISIONS = 3
S_POS = 4  # Σ over network steps of non-input neurons at +1
S_NEG = 5
S_ALIVE = 6  # Σ of non-input neurons updated
S_BR_NUM = 7  # Σ A[t+1] over steps with A[t] > 0 (A = firing non-input neurons)
S_BR_DEN = 8  # Σ A[t] over the same steps
S_FINAL_SYNAPSES = 9
N_STATS = 10

# Per-tick trace columns (``trace`` int64[ticks, N_TRACE]), written at the end of each tick lived.
T_X = 0  # position after the tick's move
T_Y = 1
T_MOVE_X = 2  # the motor trits (0, 0 = stay)
T_MOVE_Y = 3
T_COLLIDED = 4  # 1 if the move hit rock or the edge
T_EATEN = 5  # index of the food source eaten from this tick, -1 if none
T_ENERGY = 6  # energy after metabolism and collision cost
T_EXPLORED = 7  # distinct cells visited so far
T_FIRING = 8  # non-input neurons at +1 or -1 after the tick's last network step
N_TRACE = 9

# Agent-side extension parameters (``agent`` float64[N_AGENT]).
A_AROUSAL = 0  # meta signal added per collision
A_META_DECAY = 1  # μ ← μ·decay after each tick
A_REWARD_DA = 2  # dopamine added when eating (v1: clamped to 1, like ``modulate``; v2: phasic, clamped to 2)
A_META_GAIN = 3  # plasticity scale per unit of μ (read by the v2 lifetime; v1 reads P_META_GAIN)
N_AGENT = 4


@njit
def generate_world(rng, width, height, rock_permille, passes, n_food):  # type: ignore[no-untyped-def]
    """Terrain, food sources and start cell from ``rng`` (uint64[4]); see docs for the order.

    1. Each cell in row-major order is rock when ``below(1000) < rock_permille``.
    2. ``passes`` smoothing steps, all cells at once: a cell becomes rock when at least 5 of the 9
       cells of its 3x3 block (itself included; outside the grid counts as rock) are rock.
    3. Start: draw (x, y) with ``below(width)``, ``below(height)`` until a land cell, at most
       ``4·W·H`` draws; if none, the centre cell is made land and used.
    4. Food: up to ``n_food`` distinct land cells other than the start, each drawn the same way with
       at most ``4·W·H`` draws per source; a source that finds no cell leaves its slot at (-1, -1).
    """
    terrain = np.zeros((height, width), dtype=np.uint8)
    for y in range(height):
        for x in range(width):
            if below(rng, 1000) < rock_permille:
                terrain[y, x] = 1
    for _ in range(passes):
        nxt = np.empty_like(terrain)
        for y in range(height):
            for x in range(width):
                c = 0
                for dy in range(-1, 2):
                    for dx in range(-1, 2):
                        yy = y + dy
                        xx = x + dx
                        if yy < 0 or yy >= height or xx < 0 or xx >= width or terrain[yy, xx] == 1:
                            c += 1
                nxt[y, x] = 1 if c >= 5 else 0
        terrain = nxt
    limit = 4 * width * height
    start = np.empty(2, dtype=np.int32)
    start[0] = -1
    for _ in range(limit):
        x = below(rng, width)
        y = below(rng, height)
        if terrain[y, x] == 0:
            start[0] = x
            start[1] = y
            break
    if start[0] < 0:
        start[0] = width // 2
        start[1] = height // 2
        terrain[start[1], start[0]] = 0
    food = np.full((n_food, 2), -1, dtype=np.int32)
    for f in range(n_food):
        for _ in range(limit):
            x = below(rng, width)
            y = below(rng, height)
            if terrain[y, x] != 0 or (x == start[0] and y == start[1]):
                continue
            taken = False
            for g in range(f):
                if food[g, 0] == x and food[g, 1] == y:
                    taken = True
                    break
            if not taken:
                food[f, 0] = x
                food[f, 1] = y
                break
    return terrain, food, start


@njit(alloc=False)
def _sign(v):  # type: ignore[no-untyped-def]
    return 1 if v > 0 else (-1 if v < 0 else 0)


# A lifetime's world state (``ws`` int64[N_WORLD]).
W_X = 0  # position
W_Y = 1
W_HX = 2  # heading (last move)
W_HY = 3
W_ENERGY = 4
W_RING_POS = 5  # next slot of the blocked-move ring
W_CLEAR = 6  # clear-path streak
N_WORLD = 7


@njit
def world_begin(terrain, food, env, start, stats):  # type: ignore[no-untyped-def]
    """A lifetime's fresh world (:func:`world_reset` on newly allocated state).

    Returns (units int64[F], respawn_at int64[F] (-1: none due), visited bool[H, W], ring int64[max(window, 1)],
    ws int64[N_WORLD]).
    """
    H, W = terrain.shape
    F = food.shape[0]
    units = np.empty(F, dtype=np.int64)
    respawn_at = np.empty(F, dtype=np.int64)
    visited = np.empty((H, W), dtype=np.bool_)
    ring = np.empty(max(env[E_BLOCKED_WINDOW], 1), dtype=np.int64)
    ws = np.empty(N_WORLD, dtype=np.int64)
    world_reset(terrain, food, env, start, stats, units, respawn_at, visited, ring, ws)
    return units, respawn_at, visited, ring, ws


@njit(alloc=False)
def world_reset(terrain, food, env, start, stats, units, respawn_at, visited, ring, ws):  # type: ignore[no-untyped-def]
    """A lifetime's fresh world in caller-provided state (shapes as :func:`world_begin` returns them;
    contents ignored; allocates nothing, so CUDA kernels run it too): every present source full, the
    start visited, heading (1, 0), ``energy_start``, an empty blocked ring; ``stats`` zeroed with one
    cell explored."""
    H, W = terrain.shape
    for f in range(food.shape[0]):
        units[f] = env[E_FOOD_UNITS] if food[f, 0] >= 0 else 0
        respawn_at[f] = -1
    for yy in range(H):
        for xx in range(W):
            visited[yy, xx] = False
    for j in range(ring.shape[0]):
        ring[j] = 0
    for j in range(N_WORLD):
        ws[j] = 0
    ws[W_X] = start[0]
    ws[W_Y] = start[1]
    visited[start[1], start[0]] = True
    ws[W_HX] = 1
    ws[W_ENERGY] = env[E_ENERGY_START]
    for j in range(N_STATS):
        stats[j] = 0
    stats[S_EXPLORED] = 1


@njit(alloc=False)
def world_sense(terrain, food, env, units, respawn_at, ring, ws, t, sensors):  # type: ignore[no-untyped-def]
    """Steps 1-2 of tick ``t``: respawn due sources, then the six sensor trits into ``sensors`` (int8[6])."""
    H, W = terrain.shape
    F = food.shape[0]
    x = ws[W_X]
    y = ws[W_Y]
    for f in range(F):
        if respawn_at[f] == t:
            units[f] = env[E_FOOD_UNITS]
            respawn_at[f] = -1
    here = -1
    best_d = env[E_SENSE_RADIUS] + 1
    best_f = -1
    for f in range(F):
        if units[f] <= 0:
            continue
        dx = food[f, 0] - x
        dy = food[f, 1] - y
        if dx == 0 and dy == 0:
            here = f
        d = max(abs(dx), abs(dy))
        if d < best_d:
            best_d = d
            best_f = f
    sensors[0] = 1 if here >= 0 else 0
    if best_f >= 0 and here < 0:
        sensors[1] = _sign(food[best_f, 0] - x)
        sensors[2] = _sign(food[best_f, 1] - y)
    else:
        sensors[1] = 0
        sensors[2] = 0
    ax = x + ws[W_HX]
    ay = y + ws[W_HY]
    sensors[3] = 1 if (0 <= ax < W and 0 <= ay < H and terrain[ay, ax] == 0) else -1
    window = env[E_BLOCKED_WINDOW]
    hits = 0
    for j in range(window):
        hits += ring[j]
    if window > 0 and hits >= env[E_BLOCKED_HITS]:
        sensors[4] = -1
    elif ws[W_CLEAR] >= env[E_CLEAR_STREAK]:
        sensors[4] = 1
    else:
        sensors[4] = 0
    energy = ws[W_ENERGY]
    if 3 * energy >= 2 * env[E_ENERGY_MAX]:
        sensors[5] = 1
    elif 3 * energy < env[E_ENERGY_MAX]:
        sensors[5] = -1
    else:
        sensors[5] = 0


@njit(alloc=False)
def world_act(terrain, food, env, units, respawn_at, visited, ring, ws, mx, my, t, stats):  # type: ignore[no-untyped-def]
    """Steps 4-6 of tick ``t`` for the motor trits (mx, my): move or collide, eat, metabolism, and
    the tick counted in ``stats``. Returns (collided, index of the source eaten from or -1); the
    brain's side of a collision (arousal) and of eating (dopamine) is the caller's."""
    H, W = terrain.shape
    F = food.shape[0]
    window = env[E_BLOCKED_WINDOW]
    collided = False
    if mx != 0 or my != 0:
        ws[W_HX] = mx
        ws[W_HY] = my
        nx = ws[W_X] + mx
        ny = ws[W_Y] + my
        if 0 <= nx < W and 0 <= ny < H and terrain[ny, nx] == 0:
            ws[W_X] = nx
            ws[W_Y] = ny
            if not visited[ny, nx]:
                visited[ny, nx] = True
                stats[S_EXPLORED] += 1
            ws[W_CLEAR] += 1
            if window > 0:
                ring[ws[W_RING_POS]] = 0
        else:
            collided = True
            stats[S_COLLISIONS] += 1
            ws[W_CLEAR] = 0
            if window > 0:
                ring[ws[W_RING_POS]] = 1
        if window > 0:
            ws[W_RING_POS] = (ws[W_RING_POS] + 1) % window
    eaten = -1
    for f in range(F):
        if units[f] > 0 and food[f, 0] == ws[W_X] and food[f, 1] == ws[W_Y]:
            eaten = f
            units[f] -= 1
            stats[S_FOOD] += 1
            ws[W_ENERGY] = min(env[E_ENERGY_MAX], ws[W_ENERGY] + env[E_ENERGY_FOOD])
            if units[f] == 0:
                respawn_at[f] = t + env[E_RESPAWN]
            break
    ws[W_ENERGY] -= env[E_METABOLISM]
    if collided:
        ws[W_ENERGY] -= env[E_COLLISION_COST]
    stats[S_TICKS] += 1
    return collided, eaten


@njit(alloc=False)
def tally_step(stats, counts, prev_firing):  # type: ignore[no-untyped-def]
    """Add one network step's criticality counters (``counts[3:6]`` = #+1, #-1, #updated over
    non-input neurons) to ``stats``; returns this step's firing count (the next call's ``prev_firing``)."""
    firing = counts[3] + counts[4]
    stats[S_POS] += counts[3]
    stats[S_NEG] += counts[4]
    stats[S_ALIVE] += counts[5]
    if prev_firing > 0:
        stats[S_BR_NUM] += firing
        stats[S_BR_DEN] += prev_firing
    return firing


@njit(alloc=False)
def world_record(trace, food_trace, t, ws, mx, my, collided, eaten, firing, units, stats):  # type: ignore[no-untyped-def]
    """Tick ``t`` into ``trace[t]`` and ``food_trace[t]`` when there is room for it."""
    if t < trace.shape[0]:
        trace[t, T_X] = ws[W_X]
        trace[t, T_Y] = ws[W_Y]
        trace[t, T_MOVE_X] = mx
        trace[t, T_MOVE_Y] = my
        trace[t, T_COLLIDED] = 1 if collided else 0
        trace[t, T_EATEN] = eaten
        trace[t, T_ENERGY] = ws[W_ENERGY]
        trace[t, T_EXPLORED] = stats[S_EXPLORED]
        trace[t, T_FIRING] = firing
        for f in range(units.shape[0]):
            food_trace[t, f] = units[f]


@njit
def live(terrain, food, start, env, agent, life_rng,  # type: ignore[no-untyped-def]
         g_pre, g_post, g_wf, g_ws, g_wm, g_silent, g_modul, n_hidden,
         P, base, ticks, steps_per_tick, stats):
    """One lifetime of the genome's network in one world; fills ``stats`` (int64[N_STATS]).

    The genome is the network at birth: synapses (``g_*``, list order), integrity 1, traces 0;
    neurons at rest (V = a = r = 0, s = 0, health 1, all active); neuromodulators at ``base``.
    Neurons: ``N_SENSORS`` inputs, ``n_hidden`` hidden, ``N_MOTORS`` outputs. ``life_rng``
    (uint64[4], consumed) drives the network's stochastic parts. ``P`` is the kernel parameter
    vector (its ``P_META_LEVEL`` entry is overwritten each tick with the meta signal μ).
    """
    live_traced(terrain, food, start, env, agent, life_rng, g_pre, g_post, g_wf, g_ws, g_wm, g_silent, g_modul,
                n_hidden, P, base, ticks, steps_per_tick, stats, np.zeros((0, N_TRACE), dtype=np.int64),
                np.zeros((0, 0), dtype=np.int32))


@njit(alloc=False)
def synapse_capacity(n_synapses, ticks, steps_per_tick, formation_p):  # type: ignore[no-untyped-def]
    """Synapse slots one lifetime needs: the genome's, one per network step when synapses may form, plus one."""
    return n_synapses + (ticks * steps_per_tick if formation_p > 0.0 else 0) + 1


@njit
def live_traced(terrain, food, start, env, agent, life_rng,  # type: ignore[no-untyped-def]
                g_pre, g_post, g_wf, g_ws, g_wm, g_silent, g_modul, n_hidden,
                P, base, ticks, steps_per_tick, stats, trace, food_trace):
    """:func:`live`, recording tick ``t`` into ``trace[t]`` (int64[*, N_TRACE]) and ``food_trace[t]``
    (int32[*, F]) while ``t < trace.shape[0]``; the lifetime itself is the same with or without room.
    Rows ``0 .. stats[S_TICKS] - 1`` are written. Allocates the scratch and runs :func:`lifetime`."""
    H, W = terrain.shape
    F = food.shape[0]
    N = N_SENSORS + n_hidden + N_MOTORS
    cap = synapse_capacity(g_pre.shape[0], ticks, steps_per_tick, P[K.P_FORM_P])
    lifetime(terrain, food, start, env, agent, life_rng, g_pre, g_post, g_wf, g_ws, g_wm, g_silent, g_modul,
             n_hidden, P, base, ticks, steps_per_tick, stats, trace, food_trace,
             np.empty((2, cap), dtype=np.int32), np.empty((N_SYN_F, cap)), np.empty((2, cap), dtype=np.bool_),
             np.empty(cap, dtype=np.int8), np.empty((N_NEU_F, N)), np.empty((2, N), dtype=np.int8),
             np.empty(N, dtype=np.bool_), np.empty(N_NEUROMODULATORS), np.empty(N_LIFE_INTS, dtype=np.int64),
             np.empty((2, F), dtype=np.int64), np.empty((H, W), dtype=np.bool_),
             np.empty(max(env[E_BLOCKED_WINDOW], 1), dtype=np.int64))


# Rows of the lifetime scratch (see :func:`lifetime`).
N_SYN_F = 6  # synapse floats: w_fast, w_slow, w_meta, integrity, pre trace, post trace
N_NEU_F = 6  # neuron floats: V, a, r, health, I, M
N_NEUROMODULATORS = 4
N_LIFE_INTS = 6 + N_SENSORS + N_WORLD  # int64 scratch: step counts, sensor trits, world state


@njit(alloc=False)
def lifetime(terrain, food, start, env, agent, life_rng,  # type: ignore[no-untyped-def]
             g_pre, g_post, g_wf, g_ws, g_wm, g_silent, g_modul, n_hidden,
             P, base, ticks, steps_per_tick, stats, trace, food_trace,
             syn_i, syn_f, syn_b, stype, neu_f, neu_i, active, nm, ints, food_state, visited, hits_ring):
    """:func:`live_traced` on caller-provided scratch: allocates nothing, so the cpu and the CUDA
    kernels (:mod:`engine.cuda_neuraxon`) run this very code.

    Scratch (contents ignored; capacity ``cap`` = :func:`synapse_capacity`, ``N`` neurons, ``F``
    food sources): ``syn_i`` int32[2, cap] (pre, post), ``syn_f`` float64[N_SYN_F, cap], ``syn_b``
    bool[2, cap] (silent, modulatory), ``stype`` int8[cap], ``neu_f`` float64[N_NEU_F, N], ``neu_i``
    int8[2, N] (state, type), ``active`` bool[N], ``nm`` float64[4], ``ints`` int64[N_LIFE_INTS] (step
    counts, the sensor trits, the world state ``ws``), ``food_state`` int64[2, F] (units, respawn tick),
    ``visited`` bool[H, W], ``hits_ring`` int64[max(blocked_window, 1)]; the world parts as :func:`world_reset`.
    """
    N = N_SENSORS + n_hidden + N_MOTORS
    S0 = g_pre.shape[0]
    pre, post = syn_i[0], syn_i[1]
    wf, ws, wm, integ, pre_tr, post_tr = syn_f[0], syn_f[1], syn_f[2], syn_f[3], syn_f[4], syn_f[5]
    silent, modul = syn_b[0], syn_b[1]
    for k in range(S0):
        pre[k] = g_pre[k]
        post[k] = g_post[k]
        wf[k] = g_wf[k]
        ws[k] = g_ws[k]
        wm[k] = g_wm[k]
        silent[k] = g_silent[k]
        modul[k] = g_modul[k]
        integ[k] = 1.0
        pre_tr[k] = 0.0
        post_tr[k] = 0.0
        stype[k] = K.synapse_label(silent[k], modul[k], wf[k], ws[k])
    n_syn = S0
    V, a, r, h, I, M = neu_f[0], neu_f[1], neu_f[2], neu_f[3], neu_f[4], neu_f[5]
    s, ntype = neu_i[0], neu_i[1]
    for i in range(N):
        V[i] = 0.0
        a[i] = 0.0
        r[i] = 0.0
        h[i] = 1.0
        s[i] = 0
        active[i] = True
        ntype[i] = K.INPUT if i < N_SENSORS else (K.HIDDEN if i < N_SENSORS + n_hidden else K.OUTPUT)
    for x in range(4):
        nm[x] = base[x]
    no_ext = I[:0]
    counts = ints[:6]
    sensors = ints[6:6 + N_SENSORS]
    world = ints[6 + N_SENSORS:]
    th_exc = P[K.P_TH_EXC]

    units = food_state[0]
    respawn_at = food_state[1]
    world_reset(terrain, food, env, start, stats, units, respawn_at, visited, hits_ring, world)
    mu = 0.0
    prev_firing = -1

    for t in range(ticks):
        world_sense(terrain, food, env, units, respawn_at, hits_ring, world, t, sensors)
        # 3. think: clamp the sensors before every network step
        P[K.P_META_LEVEL] = mu
        for _ in range(steps_per_tick):
            for i in range(N_SENSORS):
                s[i] = sensors[i]
                V[i] = exact_mul(sensors[i], th_exc)
            n_syn = K.step_once(V, s, a, r, h, active, ntype, pre, post, wf, ws, wm, silent, modul, integ,
                                pre_tr, post_tr, stype, n_syn, nm, base, P, life_rng, I, M, no_ext, counts)
            prev_firing = tally_step(stats, counts, prev_firing)
        # 4-6. act, eat, metabolism; the brain's side of a collision and a meal
        mx = s[N - 2]
        my = s[N - 1]
        collided, eaten = world_act(terrain, food, env, units, respawn_at, visited, hits_ring, world, mx, my, t, stats)
        if collided:
            mu += agent[A_AROUSAL]
        if eaten >= 0:
            nm[K.DA] = min(1.0, nm[K.DA] + agent[A_REWARD_DA])
        # 7. meta decay, survival
        mu = exact_mul(mu, agent[A_META_DECAY])  # the next tick adds to it: never fused (engine._exact)
        world_record(trace, food_trace, t, world, mx, my, collided, eaten, prev_firing, units, stats)
        if world[W_ENERGY] <= 0:
            break
    stats[S_FINAL_SYNAPSES] = n_syn


@njit
def live_many(terrains, foods, starts, life_rngs, env, agent,  # type: ignore[no-untyped-def]
              g_pre, g_post, g_wf, g_ws, g_wm, g_silent, g_modul, n_hidden,
              P, base, ticks, steps_per_tick, worlds, stats):
    """``live`` in each world index of ``worlds`` (int64[k]); stats int64[k, N_STATS].

    Each world gets a copy of its lifetime RNG and of ``P``, so results do not depend on which
    worlds are evaluated together or in which thread.
    """
    for j in range(worlds.shape[0]):
        w = worlds[j]
        live(terrains[w], foods[w], starts[w], env, agent, life_rngs[w].copy(),
             g_pre, g_post, g_wf, g_ws, g_wm, g_silent, g_modul, n_hidden,
             P.copy(), base, ticks, steps_per_tick, stats[j])
