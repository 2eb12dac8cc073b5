COMMENT
tm_glutamate_syn: excitatory AMPA + NMDA synapse with Tsodyks-Markram
short-term plasticity.

Conductance kinetics are those of glutamate_syn exactly: per component a
double-exponential conductance, peak-normalised so that an event of
increment w peaks at w; NMDA carries the Mg2+ block
1/(1 + n exp(-gama v)). The ISF depression/facilitation variables of
glutamate_syn are replaced by one Tsodyks-Markram (TM) model per connection
that scales each event's increment of both components (release is
presynaptic, so AMPA and NMDA share it).

TM model (deterministic, Tsodyks & Markram 1997 with the facilitation of
Markram et al. 1998), evaluated at the n-th event, dt_n = t_n - t_(n-1):
    u_n = U + u_(n-1) (1 - U) exp(-dt_n/tau_facil)       (tau_facil = 0: u_n = U)
    R_n = 1 - (1 - R_(n-1) (1 - u_(n-1))) exp(-dt_n/tau_rec)
                                                         (tau_rec = 0: R_n = 1)
    first event: u_1 = U, R_1 = 1
    increment of event n: w u_n R_n   (w = NetCon weight 0 or 1)
u_n is the value used by event n, i.e. Markram 1998's u_(n+) = u_- + U (1 - u_-)
with u_- decaying to 0 with tau_facil between events; R_n is the fraction
of resources available just before event n, of which u_n R_n is released.
A single event therefore gives U times the glutamate_syn conductance.
(U, tau_rec, tau_facil) are the (U, D, F) of the papers.

The TM state is kept per connection in the NetCon weight vector
(entries 2-4: u, R, time of the last event), as in the tmgsyn pattern;
u_event and R_event hold the values used at the last event, for recording.

NetCon weights: weight 0 = AMPA peak conductance (nS),
                weight 1 = NMDA peak conductance before the Mg block (nS).
Conductances are in nS; the current is converted to nA with a factor 1e-3.

Reference: Tsodyks & Markram (1997) PNAS 94:719; Markram, Wang & Tsodyks
(1998) PNAS 95:5323; kinetics from pspsweep's glutamate_syn (ISF reference
specification, section 4.1). Written for pspsweep; no code was copied.
ENDCOMMENT

NEURON {
    THREADSAFE
    POINT_PROCESS tm_glutamate_syn
    NONSPECIFIC_CURRENT i
    RANGE gampamax, gnmdamax, e
    RANGE tau1, tau2, tau3, tau4
    RANGE U, tau_rec, tau_facil, u_event, R_event
    RANGE i, iampa, inmda, gampa, gnmda
    RANGE factor_ampa, factor_nmda, tp_ampa, tp_nmda
    GLOBAL n, gama
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
    U = 0.5 (1)            : utilisation of resources by the first event
    tau_rec = 800 (ms)     : recovery of resources (D); 0 = no depression
    tau_facil = 0 (ms)     : decay of facilitation (F); 0 = no facilitation
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
    u_event = 0
    R_event = 1
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

NET_RECEIVE (weight_ampa (nS), weight_nmda (nS), u_conn (1), R_conn (1), t_conn (ms)) {
    INITIAL {
        gampamax = weight_ampa
        gnmdamax = weight_nmda
        : u = 0, R = 1 make the recursion give u_1 = U, R_1 = 1 for any dt.
        u_conn = 0
        R_conn = 1
        t_conn = t
    }
    gampamax = weight_ampa
    gnmdamax = weight_nmda
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
    A = A + factor_nmda*gnmdamax*u_conn*R_conn
    B = B + factor_nmda*gnmdamax*u_conn*R_conn
    C = C + factor_ampa*gampamax*u_conn*R_conn
    D = D + factor_ampa*gampamax*u_conn*R_conn
}
