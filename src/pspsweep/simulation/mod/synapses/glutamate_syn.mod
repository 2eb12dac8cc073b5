COMMENT
glutamate_syn: excitatory synapse with an AMPA and an NMDA component.

Each component is a double-exponential conductance that is peak-normalised,
so that a single event with NetCon weight w (nS) produces a conductance whose
peak is exactly w. The NMDA conductance carries a voltage-dependent Mg2+ block
(Jahr & Stevens 1990 form, implicit [Mg2+] = 1 mM). Both components have
multiplicative depression and additive facilitation variables that recover
exponentially towards 1 between events.

NetCon weights: weight 0 = AMPA peak conductance (nS),
                weight 1 = NMDA peak conductance before the Mg block (nS).
Conductances are in nS; the current is converted to nA with a factor 1e-3
(nS * mV = pA).

Reference: the glutamate_syn mechanism of the In-Silico Framework (ISF,
netglutamate.mod) used for synaptic-strength fitting of the L5PT model;
Mg block after Jahr & Stevens (1990) J Neurosci 10:3178.

Written for pspsweep from pspsweep's specification (ISF reference
specification, section 4.1); no code was copied.
ENDCOMMENT

NEURON {
    THREADSAFE
    POINT_PROCESS glutamate_syn
    NONSPECIFIC_CURRENT i
    RANGE gampamax, gnmdamax, e
    RANGE tau1, tau2, tau3, tau4
    RANGE decayampa, decaynmda, taudampa, taudnmda
    RANGE facilampa, facilnmda, taufampa, taufnmda
    RANGE i, iampa, inmda, gampa, gnmda
    RANGE factor_ampa, factor_nmda, tp_ampa, tp_nmda
    GLOBAL n, gama, tau_ampa
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
    decayampa = 0.5 (1)    : multiplicative AMPA depression per event
    decaynmda = 0.5 (1)    : multiplicative NMDA depression per event
    taudampa = 200 (ms)    : recovery of AMPA depression
    taudnmda = 200 (ms)    : recovery of NMDA depression
    facilampa = 0 (1)      : additive AMPA facilitation per event
    facilnmda = 0 (1)      : additive NMDA facilitation per event
    taufampa = 200 (ms)    : recovery of AMPA facilitation
    taufnmda = 200 (ms)    : recovery of NMDA facilitation
    n = 0.25 (/mM)         : Mg block coefficient ([Mg2+] = 1 mM implied)
    gama = 0.08 (/mV)      : Mg block voltage slope
    tau_ampa = 2 (ms)      : declared for compatibility, not used
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
}

STATE {
    A (nS)      : NMDA decay term
    B (nS)      : NMDA rise term
    C (nS)      : AMPA decay term
    D (nS)      : AMPA rise term
    d_A (1)     : AMPA depression
    d_N (1)     : NMDA depression
    f_A (1)     : AMPA facilitation
    f_N (1)     : NMDA facilitation
}

INITIAL {
    A = 0
    B = 0
    C = 0
    D = 0
    d_A = 1
    d_N = 1
    f_A = 1
    f_N = 1
    gampa = 0
    gnmda = 0
    : Peak time and normalisation from the current tau values, so that a
    : single event of weight w peaks at exactly w.
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
    d_A' = (1 - d_A)/taudampa
    d_N' = (1 - d_N)/taudnmda
    f_A' = (1 - f_A)/taufampa
    f_N' = (1 - f_N)/taufnmda
}

NET_RECEIVE (weight_ampa (nS), weight_nmda (nS)) {
    INITIAL {
        gampamax = weight_ampa
        gnmdamax = weight_nmda
    }
    gampamax = weight_ampa
    gnmdamax = weight_nmda
    : Increments use the depression/facilitation values from before this event.
    A = A + factor_nmda*gnmdamax*d_N*f_N
    B = B + factor_nmda*gnmdamax*d_N*f_N
    C = C + factor_ampa*gampamax*d_A*f_A
    D = D + factor_ampa*gampamax*d_A*f_A
    d_A = d_A*decayampa
    d_N = d_N*decaynmda
    f_A = f_A + facilampa
    f_N = f_N + facilnmda
}
