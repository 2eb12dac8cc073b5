COMMENT
NaTa_t: fast inactivating (transient) sodium current.

g = gNaTa_tbar * m^3 * h, ina = g * (v - ena). Hodgkin-Huxley gates with
alpha/beta rates; time constants are divided by the fixed temperature factor
qt = 2.3^((34-21)/10) (celsius is not read). Where a rate has a removable
singularity, v is nudged by +1e-4 mV if it equals the singular value exactly.

Reference: Colbert CM & Pan E (2002) Ion channel properties underlying axonal
action potential initiation in pyramidal neurons. Nat Neurosci 5:533-538;
as used in the L5PT model of Hay E et al. (2011) PLoS Comput Biol 7:e1002107.

Written for pspsweep from pspsweep's specification (ISF reference
specification, section 5.3); no code was copied.
ENDCOMMENT

NEURON {
    THREADSAFE
    SUFFIX NaTa_t
    USEION na READ ena WRITE ina
    RANGE gNaTa_tbar, gNaTa_t, ina
    RANGE mInf, mTau, hInf, hTau
}

UNITS {
    (S) = (siemens)
    (mV) = (millivolt)
    (mA) = (milliamp)
}

PARAMETER {
    gNaTa_tbar = 0.00001 (S/cm2)
}

ASSIGNED {
    v (mV)
    ena (mV)
    ina (mA/cm2)
    gNaTa_t (S/cm2)
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
    gNaTa_t = gNaTa_tbar*m*m*m*h
    ina = gNaTa_t*(v - ena)
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
    LOCAL qt, vv, a, b
    qt = 2.3^((34 - 21)/10)
    vv = vm
    if (vv == -38) {
        vv = vv + 0.0001
    }
    a = (0.182*(vv + 38))/(1 - exp(-(vv + 38)/6))
    b = (0.124*(-vv - 38))/(1 - exp((vv + 38)/6))
    mInf = a/(a + b)
    mTau = (1/(a + b))/qt

    if (vv == -66) {
        vv = vv + 0.0001
    }
    a = (-0.015*(vv + 66))/(1 - exp((vv + 66)/6))
    b = (-0.015*(-vv - 66))/(1 - exp(-(vv + 66)/6))
    hInf = a/(a + b)
    hTau = (1/(a + b))/qt
}
