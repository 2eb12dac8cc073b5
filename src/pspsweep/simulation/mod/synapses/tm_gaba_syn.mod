COMMENT
tm_gaba_syn: inhibitory GABA_A synapse with Tsodyks-Markram short-term
plasticity.

Conductance kinetics are those of gaba_syn exactly: a double-exponential
conductance (rise risetime, decay decaytime), peak-normalised so that an
event of increment w peaks at w. The ISF depression/facilitation variables
of gaba_syn are replaced by one Tsodyks-Markram (TM) model per connection
that scales each event's increment.

TM model (deterministic, Tsodyks & Markram 1997 with the facilitation of
Markram et al. 1998), evaluated at the n-th event, dt_n = t_n - t_(n-1):
    u_n = U + u_(n-1) (1 - U) exp(-dt_n/tau_facil)       (tau_facil = 0: u_n = U)
    R_n = 1 - (1 - R_(n-1) (1 - u_(n-1))) exp(-dt_n/tau_rec)
                                                         (tau_rec = 0: R_n = 1)
    first event: u_1 = U, R_1 = 1
    increment of event n: w u_n R_n   (w = NetCon weight 0)
u_n is the value used by event n, i.e. Markram 1998's u_(n+) = u_- + U (1 - u_-)
with u_- decaying to 0 with tau_facil between events; R_n is the fraction
of resources available just before event n, of which u_n R_n is released.
A single event therefore gives U times the gaba_syn conductance.
(U, tau_rec, tau_facil) are the (U, D, F) of the papers.

The TM state is kept per connection in the NetCon weight vector
(entries 1-3: u, R, time of the last event), as in the tmgsyn pattern;
u_event and R_event hold the values used at the last event, for recording.

NetCon weight 0 = peak GABA conductance (nS). Conductance in nS; the current
is converted to nA with a factor 1e-3.

Reference: Tsodyks & Markram (1997) PNAS 94:719; Markram, Wang & Tsodyks
(1998) PNAS 95:5323; kinetics from pspsweep's gaba_syn (ISF reference
specification, section 4.2). Written for pspsweep; no code was copied.
ENDCOMMENT

NEURON {
    THREADSAFE
    POINT_PROCESS tm_gaba_syn
    NONSPECIFIC_CURRENT i
    RANGE e, risetime, decaytime
    RANGE U, tau_rec, tau_facil, u_event, R_event
    RANGE i, g, factor, tp
}

UNITS {
    (nA) = (nanoamp)
    (mV) = (millivolt)
    (nS) = (nanosiemens)
}

PARAMETER {
    e = -60 (mV)            : reversal potential
    risetime = 1 (ms)       : rise time constant
    decaytime = 20 (ms)     : decay time constant
    U = 0.5 (1)             : utilisation of resources by the first event
    tau_rec = 800 (ms)      : recovery of resources (D); 0 = no depression
    tau_facil = 0 (ms)      : decay of facilitation (F); 0 = no facilitation
}

ASSIGNED {
    v (mV)
    i (nA)
    g (nS)
    factor (1)
    tp (ms)
    u_event (1)
    R_event (1)
}

STATE {
    R (nS)      : rise term
    D (nS)      : decay term
}

INITIAL {
    R = 0
    D = 0
    g = 0
    u_event = 0
    R_event = 1
    tp = (risetime*decaytime)/(decaytime - risetime)*log(decaytime/risetime)
    factor = 1/(exp(-tp/decaytime) - exp(-tp/risetime))
}

BREAKPOINT {
    SOLVE kinetics METHOD cnexp
    g = D - R
    i = (1e-3)*g*(v - e)
}

DERIVATIVE kinetics {
    R' = -R/risetime
    D' = -D/decaytime
}

NET_RECEIVE (weight (nS), u_conn (1), R_conn (1), t_conn (ms)) {
    INITIAL {
        : u = 0, R = 1 make the recursion give u_1 = U, R_1 = 1 for any dt.
        u_conn = 0
        R_conn = 1
        t_conn = t
    }
    : R first: it uses u of the previous event.
    if (tau_rec > 0) {
        R_conn = 1 - (1 - R_conn*(1 - u_conn))*exp(-(t - t_conn)/tau_rec)
    } else {
        R_conn = 1
    }
    if (tau_facil > 0) {
        u_conn = U + u_conn*(1 - U)*exp(-(t - t_conn)/tau_facil)
    } else {
        u_conn = U
    }
    t_conn = t
    u_event = u_conn
    R_event = R_conn
    R = R + factor*weight*u_conn*R_conn
    D = D + factor*weight*u_conn*R_conn
}
