COMMENT
SKv3_1: Kv3.1-type fast delayed-rectifier potassium current.

g = gSKv3_1bar * m, ik = g * (v - ek). Boltzmann steady state and
sigmoidal time constant; no temperature factor.

Reference: Rettig J, Wunder F, Stocker M, et al. (1992) Characterization of
a Shaw-related potassium channel family in rat brain. EMBO J 11:2473-2486;
as used in the L5PT model of Hay E et al. (2011) PLoS Comput Biol 7:e1002107.

Written for pspsweep from pspsweep's specification (ISF reference
specification, section 5.3); no code was copied.
ENDCOMMENT

NEURON {
    THREADSAFE
    SUFFIX SKv3_1
    USEION k READ ek WRITE ik
    RANGE gSKv3_1bar, gSKv3_1, ik
    RANGE mInf, mTau
}

UNITS {
    (S) = (siemens)
    (mV) = (millivolt)
    (mA) = (milliamp)
}

PARAMETER {
    gSKv3_1bar = 0.00001 (S/cm2)
}

ASSIGNED {
    v (mV)
    ek (mV)
    ik (mA/cm2)
    gSKv3_1 (S/cm2)
    mInf (1)
    mTau (ms)
}

STATE {
    m
}

BREAKPOINT {
    SOLVE states METHOD cnexp
    gSKv3_1 = gSKv3_1bar*m
    ik = gSKv3_1*(v - ek)
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
    mInf = 1/(1 + exp(-(vm - 18.7)/9.7))
    mTau = 0.2*20/(1 + exp(-(vm + 46.56)/44.14))
}
