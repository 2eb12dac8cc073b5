COMMENT
Ih: hyperpolarisation-activated cation current (HCN channels).

g = gIhbar * m, ihcn = g * (v - ehcn) with a fixed reversal potential
ehcn = -45 mV (a GLOBAL of this mechanism, not an ion). Hodgkin-Huxley gate
with alpha/beta rates; no temperature factor. At the removable singularity
of the activation rate (v = -154.9 mV) v is nudged by +1e-4 mV.

Reference: Kole MHP, Hallermann S, Stuart GJ (2006) Single Ih channels in
pyramidal neuron dendrites: properties, distribution, and impact on action
potential output. J Neurosci 26:1677-1687; as used in the L5PT model of
Hay E et al. (2011) PLoS Comput Biol 7:e1002107.

Written for pspsweep from pspsweep's specification (ISF reference
specification, section 5.3); no code was copied.
ENDCOMMENT

NEURON {
    THREADSAFE
    SUFFIX Ih
    NONSPECIFIC_CURRENT ihcn
    RANGE gIhbar, gIh, ihcn
    RANGE mInf, mTau
    GLOBAL ehcn
}

UNITS {
    (S) = (siemens)
    (mV) = (millivolt)
    (mA) = (milliamp)
}

PARAMETER {
    gIhbar = 0.00001 (S/cm2)
    ehcn = -45 (mV)
}

ASSIGNED {
    v (mV)
    ihcn (mA/cm2)
    gIh (S/cm2)
    mInf (1)
    mTau (ms)
}

STATE {
    m
}

BREAKPOINT {
    SOLVE states METHOD cnexp
    gIh = gIhbar*m
    ihcn = gIh*(v - ehcn)
}

DERIVATIVE states {
    rates(v)
    m' = (mInf - m)/mTau
}

INITIAL {
    rates(v)
    m = mInf
}

PROCEDURE rates(vm (mV)) {
    LOCAL vv, a, b
    vv = vm
    if (vv == -154.9) {
        vv = vv + 0.0001
    }
    a = 0.00643*(vv + 154.9)/(exp((vv + 154.9)/11.9) - 1)
    b = 0.193*exp(vv/33.1)
    mInf = a/(a + b)
    mTau = 1/(a + b)
}
