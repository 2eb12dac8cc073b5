COMMENT
Ca_HVA: high-voltage-activated calcium current.

g = gCa_HVAbar * m^2 * h, ica = g * (v - eca). Hodgkin-Huxley gates with
alpha/beta rates; no temperature factor. At the removable singularity of
the activation rate (v = -27 mV) v is nudged by +1e-4 mV.

Reference: Reuveni I, Friedman A, Amitai Y, Gutnick MJ (1993) Stepwise
repolarization from Ca2+ plateaus in neocortical pyramidal cells: evidence
for nonhomogeneous distribution of HVA Ca2+ channels in dendrites.
J Neurosci 13:4609-4621; as used in the L5PT model of Hay E et al. (2011)
PLoS Comput Biol 7:e1002107.

Written for pspsweep from pspsweep's specification (ISF reference
specification, section 5.3); no code was copied.
ENDCOMMENT

NEURON {
    THREADSAFE
    SUFFIX Ca_HVA
    USEION ca READ eca WRITE ica
    RANGE gCa_HVAbar, gCa_HVA, ica
    RANGE mInf, mTau, hInf, hTau
}

UNITS {
    (S) = (siemens)
    (mV) = (millivolt)
    (mA) = (milliamp)
}

PARAMETER {
    gCa_HVAbar = 0.00001 (S/cm2)
}

ASSIGNED {
    v (mV)
    eca (mV)
    ica (mA/cm2)
    gCa_HVA (S/cm2)
    mInf (1)
    mTau (ms)
    hInf (1)
    hTau (ms)
}

STATE {
    m
    h
}

BREAKPOINT {
    SOLVE states METHOD cnexp
    gCa_HVA = gCa_HVAbar*m*m*h
    ica = gCa_HVA*(v - eca)
}

DERIVATIVE states {
    rates(v)
    m' = (mInf - m)/mTau
    h' = (hInf - h)/hTau
}

INITIAL {
    rates(v)
    m = mInf
    h = hInf
}

PROCEDURE rates(vm (mV)) {
    LOCAL vv, a, b
    vv = vm
    if (vv == -27) {
        vv = vv + 0.0001
    }
    a = (0.055*(-27 - vv))/(exp((-27 - vv)/3.8) - 1)
    b = 0.94*exp((-75 - vv)/17)
    mInf = a/(a + b)
    mTau = 1/(a + b)

    a = 0.000457*exp((-13 - vv)/50)
    b = 0.0065/(exp((-vv - 15)/28) + 1)
    hInf = a/(a + b)
    hTau = 1/(a + b)
}
