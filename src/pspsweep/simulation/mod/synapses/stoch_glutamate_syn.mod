COMMENT
stoch_glutamate_syn: excitatory AMPA + NMDA synapse with stochastic release
(release probability, stochastic Tsodyks-Markram vesicle model, quantal
variability).

Conductance kinetics are those of tm_glutamate_syn exactly: per component a
double-exponential conductance, peak-normalised so that an event of
increment w peaks at w; NMDA carries the Mg2+ block 1/(1 + n exp(-gama v)).
Only the increment of each event is random.

Release model (stochastic Tsodyks-Markram, Fuhrmann et al. 2002): the
connection has n_sites release sites, each occupied or empty. At the n-th
event, dt_n = t_n - t_(n-1):
    u_n = U + u_(n-1) (1 - U) exp(-dt_n/tau_facil)       (tau_facil = 0: u_n = U)
    each empty site refills with probability 1 - exp(-dt_n/tau_rec)
                                                   (tau_rec = 0: all sites full)
    each occupied site releases with probability p u_n, and is then empty
    increment of event n: w (q_1 + ... + q_k)/n_sites  (k sites released)
q_i = 1 without quantal variability (quantal_cv = 0); otherwise q_i is
gamma-distributed with mean 1 and coefficient of variation quantal_cv.
The mean occupied fraction follows the deterministic recursion of R in
tm_glutamate_syn with utilisation p u_n, so the mean increment is that
mechanism's w u_n R_n when p = 1. With U = 1, tau_rec = tau_facil = 0 and
n_sites = 1 each event releases w with probability p.

Random numbers: RANDOM rng, a Random123 stream (ids and sequence set from
Python with rng.set_ids / rng.set_seq; INITIAL rewinds it to sequence 0).
The draws of an event, in order: one uniform per empty site (refill), then
per occupied site one uniform (release) and, if it released and
quantal_cv > 0, the gamma draws. Probabilities 0 or 1 draw nothing.

The release state is kept per connection in the NetCon weight vector
(entries 2-4: u, number of empty sites, time of the last event); empty
sites, not occupied ones, so that a state saved with another n_sites still
starts full. Counters since INITIAL (settable): n_events, n_released
(sites released); per last event: sites_event, amount_event (increment/w),
u_event, R_event (occupied fraction before release).

NetCon weights: weight 0 = AMPA peak conductance (nS),
                weight 1 = NMDA peak conductance before the Mg block (nS).
Conductances are in nS; the current is converted to nA with a factor 1e-3.

Reference: Tsodyks & Markram (1997) PNAS 94:719; Markram, Wang & Tsodyks
(1998) PNAS 95:5323; Fuhrmann et al. (2002) J Neurophysiol 87:140 (stochastic
vesicle model); Marsaglia & Tsang (2000) ACM TOMS 26:363 (gamma variates);
kinetics from pspsweep's glutamate_syn (ISF reference specification,
section 4.1). Written for pspsweep; no code was copied.
ENDCOMMENT

NEURON {
    THREADSAFE
    POINT_PROCESS stoch_glutamate_syn
    NONSPECIFIC_CURRENT i
    RANGE gampamax, gnmdamax, e
    RANGE tau1, tau2, tau3, tau4
    RANGE U, tau_rec, tau_facil, p, n_sites, quantal_cv
    RANGE n_events, n_released, sites_event, amount_event, u_event, R_event
    RANGE i, iampa, inmda, gampa, gnmda
    RANGE factor_ampa, factor_nmda, tp_ampa, tp_nmda
    GLOBAL n, gama
    RANDOM rng
}

UNITS {
    (nA) = (nanoamp)
    (mV) = (millivolt)
    (nS) = (nanosiemens)
    (mM) = (milli/liter)
}

PARAMETER {
    gampamax = 1 (nS)      : peak AMPA conductance, overwritten by NetCon weight 0
    gnmdamax = 1 (nS)      : peak NMDA conductance, overwritten by NetCon weight 1
    e = 0 (mV)             : reversal potential of both components
    tau1 = 50 (ms)         : NMDA decay
    tau2 = 2 (ms)          : NMDA rise
    tau3 = 2 (ms)          : AMPA decay
    tau4 = 0.1 (ms)        : AMPA rise
    U = 1 (1)              : utilisation (release probability per site) at rest
    tau_rec = 0 (ms)       : refill of an empty site (D); 0 = immediate
    tau_facil = 0 (ms)     : decay of facilitation (F); 0 = no facilitation
    p = 1 (1)              : release probability factor, multiplies u
    n_sites = 1 (1)        : release sites of the connection (>= 1)
    quantal_cv = 0 (1)     : CV of the gamma quantal size; 0 = fixed size 1
    n = 0.25 (/mM)         : Mg block coefficient ([Mg2+] = 1 mM implied)
    gama = 0.08 (/mV)      : Mg block voltage slope
}

ASSIGNED {
    v (mV)
    i (nA)
    iampa (nA)
    inmda (nA)
    gampa (nS)
    gnmda (nS)
    factor_ampa (1)
    factor_nmda (1)
    tp_ampa (ms)
    tp_nmda (ms)
    n_events (1)
    n_released (1)
    sites_event (1)
    amount_event (1)
    u_event (1)
    R_event (1)
}

STATE {
    A (nS)      : NMDA decay term
    B (nS)      : NMDA rise term
    C (nS)      : AMPA decay term
    D (nS)      : AMPA rise term
}

INITIAL {
    A = 0
    B = 0
    C = 0
    D = 0
    gampa = 0
    gnmda = 0
    n_events = 0
    n_released = 0
    sites_event = 0
    amount_event = 0
    u_event = 0
    R_event = 1
    random_setseq(rng, 0)
    tp_nmda = (tau1*tau2)/(tau1 - tau2)*log(tau1/tau2)
    factor_nmda = 1/(exp(-tp_nmda/tau1) - exp(-tp_nmda/tau2))
    tp_ampa = (tau3*tau4)/(tau3 - tau4)*log(tau3/tau4)
    factor_ampa = 1/(exp(-tp_ampa/tau3) - exp(-tp_ampa/tau4))
}

BREAKPOINT {
    SOLVE kinetics METHOD cnexp
    gnmda = (A - B)/(1 + n*exp(-gama*v))
    gampa = C - D
    inmda = (1e-3)*gnmda*(v - e)
    iampa = (1e-3)*gampa*(v - e)
    i = iampa + inmda
}

DERIVATIVE kinetics {
    A' = -A/tau1
    B' = -B/tau2
    C' = -C/tau3
    D' = -D/tau4
}

FUNCTION bernoulli(prob) {
    : 1 with probability prob; no draw when the outcome is certain
    if (prob >= 1) {
        bernoulli = 1
    } else if (prob <= 0) {
        bernoulli = 0
    } else if (random_uniform(rng) < prob) {
        bernoulli = 1
    } else {
        bernoulli = 0
    }
}

FUNCTION gamma_unit_scale(shape) {
    : Gamma(shape, scale 1) by Marsaglia & Tsang; shape < 1 via shape + 1
    LOCAL a, d, c, x, y, w, accepted
    a = shape
    if (shape < 1) {
        a = shape + 1
    }
    d = a - 1.0/3.0
    c = 1/sqrt(9*d)
    accepted = 0
    w = 0
    WHILE (accepted == 0) {
        x = random_normal(rng)
        y = 1 + c*x
        if (y > 0) {
            w = y*y*y
            if (log(random_uniform(rng)) < 0.5*x*x + d - d*w + d*log(w)) {
                accepted = 1
            }
        }
    }
    gamma_unit_scale = d*w
    if (shape < 1) {
        gamma_unit_scale = gamma_unit_scale*pow(random_uniform(rng), 1/shape)
    }
}

FUNCTION quantal_size() {
    : mean 1, CV quantal_cv: Gamma(1/cv^2, scale cv^2)
    if (quantal_cv > 0) {
        quantal_size = quantal_cv*quantal_cv*gamma_unit_scale(1/(quantal_cv*quantal_cv))
    } else {
        quantal_size = 1
    }
}

NET_RECEIVE (weight_ampa (nS), weight_nmda (nS), u_conn (1), empty_conn (1), t_conn (ms)) {
    LOCAL refill, site, occupied, released, amount
    INITIAL {
        gampamax = weight_ampa
        gnmdamax = weight_nmda
        : u = 0 and all sites full make the first event use u_1 = U, R_1 = 1
        u_conn = 0
        empty_conn = 0
        t_conn = t
    }
    gampamax = weight_ampa
    gnmdamax = weight_nmda
    if (empty_conn > n_sites) {
        empty_conn = n_sites
    }
    if (tau_rec > 0) {
        refill = 1 - exp(-(t - t_conn)/tau_rec)
        occupied = n_sites - empty_conn
        site = 0
        WHILE (site < empty_conn) {
            occupied = occupied + bernoulli(refill)
            site = site + 1
        }
    } else {
        occupied = n_sites
    }
    if (tau_facil > 0) {
        u_conn = U + u_conn*(1 - U)*exp(-(t - t_conn)/tau_facil)
    } else {
        u_conn = U
    }
    t_conn = t
    u_event = u_conn
    R_event = occupied/n_sites
    released = 0
    amount = 0
    site = 0
    WHILE (site < occupied) {
        if (bernoulli(p*u_conn) == 1) {
            released = released + 1
            amount = amount + quantal_size()
        }
        site = site + 1
    }
    empty_conn = n_sites - occupied + released
    amount = amount/n_sites
    n_events = n_events + 1
    n_released = n_released + released
    sites_event = released
    amount_event = amount
    A = A + factor_nmda*gnmdamax*amount
    B = B + factor_nmda*gnmdamax*amount
    C = C + factor_ampa*gampamax*amount
    D = D + factor_ampa*gampamax*amount
}
