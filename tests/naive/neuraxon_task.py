"""Plain-Python twin of the whole Neuraxon-task scorer, written from docs/neuraxon-task.md.

World generation, the agent's lifetime (with the plain network twin), mutation, the root network,
fitness and the walk, all in plain Python. Only K12 (pycryptodome) and the task spec dataclass are
shared with the production code. Slow: for small tasks in tests.
"""

from __future__ import annotations

from typing import Any, Protocol

from Crypto.Hash import KangarooTwelve

from scoring.neuraxon_task import TaskSpec
from tests.naive.neuraxon_v1 import NaiveNetwork, er_pairs
from tests.naive.rng import Xoshiro

GENE_BOUNDS = ((0.01, 3.0), (-3.0, -0.01), (1.0, 100.0), (1.0, 50.0), (2.0, 500.0), (0.0, 0.5))
GENE_NAMES = ("firing_threshold_excitatory", "firing_threshold_inhibitory", "membrane_time_constant",
              "tau_fast", "tau_slow", "learning_rate")


def k12(*parts: bytes) -> bytes:
    return KangarooTwelve.new(data=b"".join(parts)).read(32)  # type: ignore[no-any-return]


def rng_from(digest: bytes) -> Xoshiro:
    return Xoshiro([int.from_bytes(digest[8 * i:8 * i + 8], "little") for i in range(4)])


def make_world(spec: TaskSpec, index: int) -> dict[str, Any]:
    env = spec.environment
    W, H = env.width, env.height
    rng = rng_from(k12(spec.seed_bytes, b"world", index.to_bytes(4, "little")))
    terrain = [[1 if rng.below(1000) < env.rock_permille else 0 for _ in range(W)] for _ in range(H)]
    for _ in range(env.smoothing_passes):
        def rock(x: int, y: int, t: list[list[int]] = terrain) -> int:
            return 1 if not (0 <= x < W and 0 <= y < H) or t[y][x] == 1 else 0
        terrain = [[1 if sum(rock(x + dx, y + dy) for dx in (-1, 0, 1) for dy in (-1, 0, 1)) >= 5 else 0
                    for x in range(W)] for y in range(H)]
    limit = 4 * W * H
    start = None
    for _ in range(limit):
        x, y = rng.below(W), rng.below(H)
        if terrain[y][x] == 0:
            start = (x, y)
            break
    if start is None:
        start = (W // 2, H // 2)
        terrain[start[1]][start[0]] = 0
    food: list[tuple[int, int] | None] = []
    for _ in range(env.food_sources):
        placed = None
        for _ in range(limit):
            x, y = rng.below(W), rng.below(H)
            if terrain[y][x] != 0 or (x, y) == start or (x, y) in food:
                continue
            placed = (x, y)
            break
        food.append(placed)
    life = k12(spec.seed_bytes, b"life", index.to_bytes(4, "little"))
    return {"terrain": terrain, "food": food, "start": start, "life": life}


def network_object(spec: TaskSpec, genome: dict[str, Any]) -> dict[str, Any]:
    n = spec.network
    params = {
        "num_input_neurons": 6, "num_hidden_neurons": n.hidden, "num_output_neurons": 2,
        "spontaneous_firing_rate": n.spontaneous_firing_rate, "neuron_health_decay": n.neuron_health_decay,
        "tau_meta": n.tau_meta, "stdp_window": n.stdp_window,
        "synapse_integrity_threshold": n.synapse_integrity_threshold,
        "synapse_formation_prob": n.synapse_formation_prob, "synapse_death_prob": n.synapse_death_prob,
        "neuron_death_threshold": n.neuron_death_threshold, "dopamine_baseline": n.dopamine_baseline,
        "serotonin_baseline": n.serotonin_baseline, "acetylcholine_baseline": n.acetylcholine_baseline,
        "norepinephrine_baseline": n.norepinephrine_baseline, "neuromod_decay_rate": n.neuromod_decay_rate,
        "dt": 1.0, "w_fast_init_min": n.w_fast_init[0], "w_fast_init_max": n.w_fast_init[1],
        "w_slow_init_min": n.w_slow_init[0], "w_slow_init_max": n.w_slow_init[1],
        "w_meta_init_min": n.w_meta_init[0], "w_meta_init_max": n.w_meta_init[1],
    }
    params.update(dict(zip(GENE_NAMES, genome["genes"], strict=True)))
    N = 6 + n.hidden + 2
    types = ["input"] * 6 + ["hidden"] * n.hidden + ["output"] * 2
    neurons = [{"id": i, "type": types[i], "membrane_potential": 0.0, "trinary_state": 0, "adaptation": 0.0,
                "autoreceptor": 0.0, "health": 1.0, "is_active": True} for i in range(N)]
    synapses = [{"pre_id": p, "post_id": q, "w_fast": wf, "w_slow": ws, "w_meta": wm, "is_silent": si,
                 "is_modulatory": mo, "integrity": 1.0}
                for p, q, wf, ws, wm, si, mo in genome["synapses"]]
    nm = {"dopamine": n.dopamine_baseline, "serotonin": n.serotonin_baseline,
          "acetylcholine": n.acetylcholine_baseline, "norepinephrine": n.norepinephrine_baseline}
    return {"parameters": params, "neurons": neurons, "synapses": synapses, "neuromodulators": nm}


class V1Brain:
    """A v1 network (:class:`NaiveNetwork`) as the agent's brain: ``think``, ``motors``, ``reward``."""

    def __init__(self, spec: TaskSpec, world: dict[str, Any], genome: dict[str, Any]) -> None:
        pl = spec.plasticity
        life = world["life"]
        self.net = NaiveNetwork(network_object(spec, genome), [int.from_bytes(life[8 * i:8 * i + 8], "little")
                                                               for i in range(4)],
                                ext={"meta_gain": pl.meta_gain, "consolidation": pl.consolidation,
                                     "traces": pl.traces})
        self.th = genome["genes"][0]
        self.reward_da = pl.reward_dopamine

    def think(self, sensors: list[int], mu: float, steps: int) -> list[tuple[int, int, int]]:
        """``steps`` network steps with the sensors clamped; per step (#+1, #-1, #alive) of non-inputs."""
        self.net.ext["meta_level"] = mu
        out = []
        for _ in range(steps):
            for i, v in enumerate(sensors):
                self.net.neurons[i].s = v
                self.net.neurons[i].V = v * self.th
            c = self.net.step()
            out.append((c[3], c[4], c[5]))
        return out

    def motors(self) -> tuple[int, int]:
        return self.net.neurons[-2].s, self.net.neurons[-1].s

    def reward(self) -> None:
        self.net.nm["dopamine"] = min(1.0, self.net.nm["dopamine"] + self.reward_da)


class Brain(Protocol):
    def think(self, sensors: list[int], mu: float, steps: int) -> list[tuple[int, int, int]]: ...
    def motors(self) -> tuple[int, int]: ...
    def reward(self) -> None: ...


def live(spec: Any, world: dict[str, Any], genome: dict[str, Any],
         trace: list[tuple[list[int], list[int]]] | None = None, brain: Brain | None = None) -> dict[str, int]:
    """One lifetime's statistics; with ``trace``, appends per tick ``([x, y, move x, move y, collided,
    eaten source or -1, energy, explored, firing], units left per source)`` (engine.foraging.T_*).
    ``brain`` defaults to the genome's v1 network."""
    env, pl = spec.environment, spec.plasticity
    W, H = env.width, env.height
    terrain, food = world["terrain"], world["food"]
    net = brain if brain is not None else V1Brain(spec, world, genome)
    units = [env.food_units if f is not None else 0 for f in food]
    respawn = [-1] * len(food)
    x, y = world["start"]
    visited = {(x, y)}
    hx, hy = 1, 0
    energy = env.energy_start
    ring = [0] * max(env.blocked_window, 1)
    pos = 0
    clear = 0
    mu = 0.0
    st = {"food": 0, "explored": 1, "ticks": 0, "collisions": 0, "pos": 0, "neg": 0, "alive": 0, "br_num": 0,
          "br_den": 0}
    prev = -1
    for t in range(spec.lifetime_ticks):
        for f in range(len(food)):
            if respawn[f] == t:
                units[f] = env.food_units
                respawn[f] = -1
        here, best_d, best = None, env.sense_radius + 1, None
        for f, fxy in enumerate(food):
            if units[f] <= 0 or fxy is None:
                continue
            dx, dy = fxy[0] - x, fxy[1] - y
            if (dx, dy) == (0, 0):
                here = f
            if max(abs(dx), abs(dy)) < best_d:
                best_d, best = max(abs(dx), abs(dy)), f
        s0 = 1 if here is not None else 0
        if best is not None and here is None:
            bx, by = food[best]  # type: ignore[misc]
            s1 = (bx > x) - (bx < x)
            s2 = (by > y) - (by < y)
        else:
            s1 = s2 = 0
        ax, ay = x + hx, y + hy
        s3 = 1 if 0 <= ax < W and 0 <= ay < H and terrain[ay][ax] == 0 else -1
        hits = sum(ring[:env.blocked_window])
        s4 = -1 if env.blocked_window > 0 and hits >= env.blocked_hits else (1 if clear >= env.clear_streak else 0)
        s5 = 1 if 3 * energy >= 2 * env.energy_max else (-1 if 3 * energy < env.energy_max else 0)
        sensors = [s0, s1, s2, s3, s4, s5]
        for n_pos, n_neg, n_alive in net.think(sensors, mu, spec.steps_per_tick):
            firing = n_pos + n_neg
            st["pos"] += n_pos
            st["neg"] += n_neg
            st["alive"] += n_alive
            if prev > 0:
                st["br_num"] += firing
                st["br_den"] += prev
            prev = firing
        mx, my = net.motors()
        collided = False
        if (mx, my) != (0, 0):
            hx, hy = mx, my
            nx, ny = x + mx, y + my
            if 0 <= nx < W and 0 <= ny < H and terrain[ny][nx] == 0:
                x, y = nx, ny
                if (x, y) not in visited:
                    visited.add((x, y))
                    st["explored"] += 1
                clear += 1
                blocked = 0
            else:
                collided = True
                st["collisions"] += 1
                clear = 0
                mu += pl.arousal_per_collision
                blocked = 1
            if env.blocked_window > 0:
                ring[pos] = blocked
                pos = (pos + 1) % env.blocked_window
        eaten = -1
        for f, fxy in enumerate(food):
            if units[f] > 0 and fxy == (x, y):
                eaten = f
                units[f] -= 1
                st["food"] += 1
                energy = min(env.energy_max, energy + env.energy_per_food)
                net.reward()
                if units[f] == 0:
                    respawn[f] = t + env.respawn_ticks
                break
        energy -= env.metabolism + (env.collision_cost if collided else 0)
        mu *= pl.meta_decay
        st["ticks"] += 1
        if trace is not None:
            trace.append(([x, y, mx, my, int(collided), eaten, energy, st["explored"], prev], list(units)))
        if energy <= 0:
            break
    return st


def world_fitness(spec: TaskSpec, st: dict[str, int]) -> int:
    w, c = spec.fitness, spec.criticality

    def band(v: int, lo: int, hi: int, width: int) -> int:
        dist = max(lo - v, v - hi, 0)
        return 1000 * (width - dist) // width if dist < width else 0

    br = st["br_num"] * 10**6 // st["br_den"] if st["br_den"] else 0
    act = (st["pos"] + st["neg"]) * 10**6 // st["alive"] if st["alive"] else 0
    crit = (c.branching_weight * band(br, *c.branching_band, c.branching_width)
            + c.activity_weight * band(act, *c.activity_band, c.activity_width)) // 1000
    return (w.food * st["food"] + w.explore * st["explored"] + w.survive * st["ticks"]
            - w.collision * st["collisions"] + crit)


def fitness(spec: TaskSpec, worlds: list[dict[str, Any]], genome: dict[str, Any]) -> int:
    values = sorted(world_fitness(spec, live(spec, w, genome)) for w in worlds)
    return max(0, values[(len(values) - 1) // 2])


def root(spec: TaskSpec, pk: bytes) -> dict[str, Any]:
    n = spec.network
    rng = rng_from(k12(pk, spec.task_id))
    pairs = er_pairs(6, n.hidden, 2, n.connection_probability, rng)[:n.max_synapses]
    syn = []
    for p, q in pairs:
        wf = rng.uniform(*n.w_fast_init)
        ws = rng.uniform(*n.w_slow_init)
        wm = rng.uniform(*n.w_meta_init)
        syn.append([p, q, wf, ws, wm, rng.random() < 0.1, rng.random() < 0.2])
    ranges = (n.threshold_exc, n.threshold_inh, n.tau_m, n.tau_fast, n.tau_slow, n.learning_rate)
    return {"synapses": syn, "genes": [rng.uniform(*r) for r in ranges]}


def mutate(spec: Any, g: dict[str, Any], rng: Xoshiro, bounds: tuple[tuple[float, float], ...] = GENE_BOUNDS,
           n_branches: int | None = None) -> None:
    """One mutation of genome ``g``; a synapse is [pre, post, wf, ws, wm, silent, modulatory] (v1,
    ``n_branches`` None), + branch (v2: drawn last for an added synapse when ``n_branches`` > 1, else 0)."""
    n = spec.network
    N = 6 + n.hidden + 2
    syn = g["synapses"]
    sw, sp = spec.walk.weight_sigma, spec.walk.gene_sigma
    u = rng.below(100)
    if not syn and not 55 <= u < 70:
        u = 70
    if u < 55:
        k, which = rng.below(len(syn)), rng.below(3)
        d = rng.uniform(-sw, sw)
        bound = 0.5 if which == 2 else 1.0
        syn[k][2 + which] = max(-bound, min(bound, syn[k][2 + which] + d))
    elif u < 70:
        j = rng.below(6)
        d = rng.uniform(-sp, sp)
        lo, hi = bounds[j]
        g["genes"][j] = max(lo, min(hi, g["genes"][j] + d * (hi - lo)))
    elif u < 82:
        p, q = rng.below(N), rng.below(N)
        if p == q or (p >= N - 2 and q < 6) or len(syn) >= n.max_synapses or any(
                s[0] == p and s[1] == q for s in syn):
            return
        wf = rng.uniform(*n.w_fast_init)
        ws = rng.uniform(*n.w_slow_init)
        wm = rng.uniform(*n.w_meta_init)
        new = [p, q, wf, ws, wm, False, rng.random() < 0.2]
        if n_branches is not None:
            new.append(rng.below(n_branches) if n_branches > 1 else 0)
        syn.append(new)
    elif u < 92:
        del syn[rng.below(len(syn))]
    else:
        k = rng.below(len(syn))
        syn[k][5] = not syn[k][5]


def score(spec: TaskSpec, pk: bytes, nonce: bytes, start: dict[str, Any] | None = None) -> tuple[int, Any]:
    worlds = [make_world(spec, i) for i in range(spec.worlds)]
    genome = start if start is not None else root(spec, pk)
    current = fitness(spec, worlds, genome)
    rng = rng_from(k12(pk, spec.task_id, nonce))
    for _ in range(spec.walk.steps):
        trial = {"synapses": [list(s) for s in genome["synapses"]], "genes": list(genome["genes"])}
        for _ in range(spec.walk.mutations):
            mutate(spec, trial, rng)
        f = fitness(spec, worlds, trial)
        if f >= current:
            genome, current = trial, f
    return current, genome
