"""Array layout of a Neuraxon v2 network (structure of arrays): the row and slot indices.

Neurons, ids 0..N-1 in the order inputs, hidden, outputs:

* ``nf`` float64[NF, N]: one row per continuous neuron variable (``NF_*``);
* ``ni`` int8[NI, N]: trit ``s``, ``prev_state``, type (``INPUT``/``HIDDEN``/``OUTPUT``), active
  flag, and scratch rows of the step kernel (pre-step trits, chrono cache flags; ``nf`` has
  scratch rows for the chrono cache too);
* ``dbuf``/``dkern`` float64[N, K]: DSN input buffer (oldest first) and per-neuron kernel;
* ``bpot`` float64[N, B]: dendritic branch potentials of the last update.

Synapses, ``n_syn`` = ``gi[GI_NSYN]`` live entries in arrays with spare capacity, stored sorted by
(post, branch, list position) so that the gather and the associative term walk contiguous
per-(post, branch) segments; ``lpos`` int64 is each synapse's position in the reference's synapse
list (increasing; new synapses get the next value), which fixes every order-dependent result:

* ``sf`` float64[SF, cap]: weights, integrity, traces, recent Δ, chrono traces, ω, eligibility;
* ``si`` int32[SI, cap]: pre, post, branch, branch_index, silent, modulatory, type label;
* ``idx`` int64[2, N+1]: row 0, start of each post's segment; row 1, start of each post's run in
  ``perm[0]``, which lists the modulatory synapses by (post, list position) for the modulatory sum;
  ``perm`` int64[2, cap], row 1 is scratch.

Globals: ``gs`` float64[G] (tonic and phasic levels of DA, 5HT, ACh, NA; the nine receptor
activations; time, energy, oscillator coupling), ``gi`` int64[GI] (step count, synapse count, next
list position, "ranks stale" flag, number of modulatory synapses), ``rp`` float64[9, RP]
(receptor definitions), ``osc`` float64[3, bands] (frequency, phase, amplitude) with ``oband``
int64[4] naming the infraslow, slow, theta and gamma bands.
"""

from __future__ import annotations

INPUT = 0
HIDDEN = 1
OUTPUT = 2

NF_V = 0  # state (the reference's membrane_potential)
NF_A = 1  # adaptation
NF_R = 2  # autoreceptor
NF_H = 3  # complement_h (CTSN)
NF_ST = 4  # state_tilde = V + h
NF_ALPHA = 5  # dsn_alpha
NF_DSN_LAST = 6  # _dsn_last_x (carried, never changed by the dynamics)
NF_CG = 7  # ctsn_phi_gain
NF_CB = 8  # ctsn_phi_bias
NF_CLX = 9  # _ctsn_last_x
NF_CLP = 10  # _ctsn_last_phi
NF_RBAR = 11  # firing_rate_avg
NF_ASTRO = 12  # astrocyte_state
NF_HEALTH = 13
NF_UF = 14  # msth.ultrafast_activity
NF_FE = 15  # msth.fast_excitability
NF_MG = 16  # msth.medium_gain
NF_SS = 17  # msth.slow_structural
# Scratch rows of the step kernel: per pre-synaptic neuron, the last chrono warp computed this step
# (input z and ω, output ω and αs^ω). Synapses sharing a pre neuron usually share their chrono
# state, and the warp is a pure function of (s_pre, z, ω), so they reuse one result.
NF_CACHE_Z = 18
NF_CACHE_OMEGA = 19
NF_CACHE_OMEGA_OUT = 20
NF_CACHE_POW = 21
NF = 22

NI_S = 0
NI_PREV = 1
NI_TYPE = 2
NI_ACTIVE = 3
NI_SRC = 4  # scratch: trit before this step, or SKIP if the neuron was inactive
NI_CACHED = 5  # scratch: 1 when the NF_CACHE_* rows hold a result of this step
NI = 6
SKIP = 127

SF_WF = 0
SF_WS = 1
SF_WM = 2
SF_INTEG = 3
SF_PRE_TR = 4
SF_POST_TR = 5
SF_RDW = 6  # recent_delta_w
SF_F = 7  # chrono_fast_trace
SF_Z = 8  # chrono_slow_trace
SF_OMEGA = 9
SF_ELIG = 10
SF = 11

SI_PRE = 0
SI_POST = 1
SI_BRANCH = 2
SI_BIDX = 3  # branch_index
SI_SILENT = 4
SI_MODUL = 5
SI_STYPE = 6  # label, as engine.neuraxon_kernels.ST_*
SI = 7

#: Neuromodulator slots (order of the reference's levels dict).
DA = 0
SER = 1
ACH = 2
NA = 3
MODULATOR_KEYS = ("DA", "5HT", "ACh", "NA")
MODULATOR_NAMES = ("dopamine", "serotonin", "acetylcholine", "norepinephrine")

G_TONIC = 0
G_PHASIC = 4
G_RECEPTOR = 8
G_TIME = 17
G_ENERGY = 18
G_COUPLING = 19
G = 20

GI_STEPS = 0
GI_NSYN = 1
GI_NEXT_LPOS = 2
GI_RANKS_STALE = 3
GI_NMOD = 4
GI = 5

#: Receptors in the reference's order; rows of ``rp`` and slots ``G_RECEPTOR + R_*``.
RECEPTOR_NAMES = ("D1", "D2", "5HT1A", "5HT2A", "5HT4", "M1", "M2", "beta1", "alpha2")
R_D1 = 0
R_D2 = 1
R_5HT1A = 2
R_5HT2A = 3
R_5HT4 = 4
R_M1 = 5
R_M2 = 6
R_BETA1 = 7
R_ALPHA2 = 8
RP_PARENT = 0  # modulator slot (DA, SER, ACH, NA)
RP_THRESHOLD = 1
RP_GAIN = 2
RP_TONIC = 3  # 1.0 for tonic receptors (they see the tonic level only)
RP_SLOPE = 4
RP = 5

OSC_FREQ = 0
OSC_PHASE = 1
OSC_AMP = 2
#: Bands the reference's bank starts with (Hz), and the four the drive reads (``oband`` order).
DEFAULT_BANDS = (("infraslow", 0.05), ("slow", 0.5), ("theta", 6.0), ("alpha", 10.0), ("gamma", 40.0))
DRIVE_BANDS = ("infraslow", "slow", "theta", "gamma")

# Slots of the kernel parameter vector ``P`` (float64[N_PARAMS]); switches are 1.0 (on) or 0.0.
P_DT = 0
P_DEND_TH = 1  # dendritic_spike_threshold
P_DEND_GAMMA = 2  # dendritic_supralinear_gamma
P_TH_EXC = 3
P_TH_INH = 4
P_ADAPT_TAU = 5
P_AUTO_TAU = 6
P_SPONT = 7
P_HEALTH_DECAY = 8
P_TARGET = 9  # target_firing_rate
P_HOMEO = 10  # homeostatic_rate
P_FR_ALPHA = 11  # firing_rate_alpha
P_TH_MOD_K = 12  # threshold_mod_k
P_UF_TAU = 13
P_UF_CEIL = 14
P_FAST_TAU = 15
P_FAST_GAIN = 16
P_MED_TAU = 17
P_MED_GAIN = 18
P_SLOW_TAU = 19
P_DSN_ON = 20
P_DSN_BIAS = 21
P_DSN_LEARN = 22
P_DSN_LR = 23
P_DSN_SENS = 24  # dsn_target_sensitivity
P_DSN_TBIAS = 25  # dsn_target_bias
P_DSN_CLIP = 26
P_CTSN_RHO = 27
P_CTSN_ON = 28
P_CTSN_LEARN = 29
P_CTSN_LR = 30
P_CTSN_GCLIP = 31
P_CTSN_BCLIP = 32
P_TAU_FAST = 33
P_TAU_SLOW = 34
P_TAU_META = 35
P_TAU_STDP = 36
P_WF_MIN = 37
P_WF_MAX = 38
P_WS_MIN = 39
P_WS_MAX = 40
P_WM_MIN = 41
P_WM_MAX = 42
P_CH_AF = 43  # chrono_alpha_f
P_CH_AS = 44
P_CH_LF = 45  # chrono_lambda_f
P_CH_LS = 46
P_CH_ON = 47
P_CH_TCLIP = 48
P_CH_GNORM = 49
P_CH_RCLIP = 50
P_CH_OMIN = 51
P_CH_OMAX = 52
P_CH_SMOOTH = 53
P_AG_LE = 54  # agmp_lambda_e
P_AG_LA = 55
P_AG_ETA = 56
P_AG_ON = 57
P_LR = 58
P_ASSOC = 59
P_INTEG_TH = 60
P_FORM_P = 61
P_SYN_DEATH = 62
P_NEURON_DEATH_TH = 63
P_BASE = 64  # four baselines, DA, 5HT, ACh, NA
P_TAU_TONIC = 68
P_TAU_PHASIC = 69
P_RELEASE = 70
P_RCAP = 71  # receptor_concentration_cap
N_PARAMS = 72
