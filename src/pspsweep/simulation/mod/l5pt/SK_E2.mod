COMMENT
SK_E2: small-conductance calcium-activated potassium current (SK).

g = gSK_E2bar * z, ik = g * (v - ek). The gate z relaxes with the constant
time constant zTau towards a Hill function of the intracellular calcium
concentration (half activation 0.43 uM, Hill coefficient 4.8). No voltage
dependence and no temperature factor. A tiny offset (1e-7 mM) is added to
very low calcium concentrations.

Reference: Koehler M, Hirschberg B, Bond CT, et al. (1996) Small-conductance,
calcium-activated potassium channels from mammalian brain. Science
273:1709-1714; as used in the L5PT model of Hay E et al. (2011) PLoS Comput
Biol 7:e1002107.

Written for pspsweep from pspsweep's specification (ISF reference
specification, section 5.3); no code was copied.
ENDCOMMENT

NEURON {
    THREADSAFE
    SUFFIX SK_E2
    USEION k READ ek WRITE ik
    USEION ca READ cai
    RANGE gSK_E2bar, gSK_E2, ik
    RANGE zInf
}

UNITS {
    (S) = (siemens)
    (mV) = (millivolt)
    (mA) = (milliamp)
    (mM) = (milli/liter)
}

PARAMETER {
    gSK_E2bar = 0.000001 (S/cm2)
    zTau = 1 (ms)
}

ASSIGNED {
    v (mV)
    ek (mV)
    cai (mM)
    ik (mA/cm2)
    gSK_E2 (S/cm2)
    zInf (1)
}

STATE {
    z
}

BREAKPOINT {
    SOLVE states METHOD cnexp
    gSK_E2 = gSK_E2bar*z
    ik = gSK_E2*(v - ek)
}

DERIVATIVE states {
    rates(cai)
    z' = (zInf - z)/zTau
}

INITIAL {
    rates(cai)
    z = zInf
}

PROCEDURE rates(ca (mM)) {
    LOCAL c
    c = ca
    if (c < 1e-7) {
        c = c + 1e-7
    }
    zInf = 1/(1 + (0.00043/c)^4.8)
}
