COMMENT
gaba_syn: inhibitory GABA_A synapse.

A double-exponential conductance (rise time constant risetime, decay time
constant decaytime) that is peak-normalised, so that a single event with
NetCon weight w (nS) produces a conductance whose peak is exactly w.
Multiplicative depression and additive facilitation variables recover
exponentially towards 1 between events.

NetCon weight 0 = peak GABA conductance (nS). Conductance in nS; the current
is converted to nA with a factor 1e-3 (nS * mV = pA).

Reference: the gaba_syn mechanism of the In-Silico Framework (ISF,
netgaba.mod) used for synaptic-strength fitting of the L5PT model.

Written for pspsweep from pspsweep's specification (ISF reference
specification, section 4.2); no code was copied.
ENDCOMMENT

NEURON {
    THREADSAFE
    POINT_PROCESS gaba_syn
    NONSPECIFIC_CURRENT i
    RANGE e, risetime, decaytime
    RANGE decaygaba, taudgaba, facilgaba, taufgaba
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
    decaygaba = 0.8 (1)     : multiplicative depression per event
    taudgaba = 200 (ms)     : recovery of depression
    facilgaba = 0 (1)       : additive facilitation per event
    taufgaba = 200 (ms)     : recovery of facilitation
}

ASSIGNED {
    v (mV)
    i (nA)
    g (nS)
    factor (1)
    tp (ms)
}

STATE {
    R (nS)      : rise term
    D (nS)      : decay term
    d (1)       : depression
    f (1)       : facilitation
}

INITIAL {
    R = 0
    D = 0
    d = 1
    f = 1
    g = 0
    : Peak normalisation from the current time constants.
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
    d' = (1 - d)/taudgaba
    f' = (1 - f)/taufgaba
}

NET_RECEIVE (weight (nS)) {
    : Increment uses the depression/facilitation values from before this event.
    R = R + factor*weight*d*f
    D = D + factor*weight*d*f
    d = d*decaygaba
    f = f + facilgaba
}
