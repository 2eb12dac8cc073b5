COMMENT
Nap_Et2: persistent sodium current.

g = gNap_Et2bar * m^3 * h, ina = g * (v - ena). Boltzmann steady states;
the activation time constant reuses the NaTa_t activation rates (scaled by
6), the inactivation time constant has its own alpha/beta rates. Time
constants are divided by the fixed temperature factor qt = 2.3^((34-21)/10)
(celsius is not read). Where a rate has a removable singularity, v is nudged
by +1e-4 mV if it equals the singular value exactly.

Reference: Magistretti J & Alonso A (1999) Biophysical properties and
slow voltage-dependent inactivation of a sustained sodium current in
entorhinal cortex layer-II principal neurons. J Gen Physiol 114:491-509;
as used in the L5PT model of Hay E et al. (2011) PLoS Comput Biol 7:e1002107.

Written for pspsweep from pspsweep's specification (ISF reference
specification, section 5.3); no code was copied.
ENDCOMMENT

NEURON {
    THREADSAFE
    SUFFIX Nap_Et2
    USEION na READ ena WRITE ina
    RANGE gNap_Et2bar, gNap_Et2, ina
    RANGE mInf, mTau, hInf, hTau
}

UNITS {
    (S) = (siemens)
    (mV) = (millivolt)
    (mA) = (milliamp)
}

PARAMETER {
    gNap_Et2bar = 0.00001 (S/cm2)
}

ASSIGNED {
    v (mV)
    ena (mV)
    ina (mA/cm2)
    gNap_Et2 (S/cm2)
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
    gNap_Et2 = gNap_Et2bar*m*m*m*h
    ina = gNap_Et2*(v - ena)
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
    mInf = 1/(1 + exp(-(vv + 52.6)/4.6))
    a = (0.182*(vv + 38))/(1 - exp(-(vv + 38)/6))
    b = (0.124*(-vv - 38))/(1 - exp((vv + 38)/6))
    mTau = (6/(a + b))/qt

    if (vv == -17) {
        vv = vv + 0.0001
    }
    if (vv == -64.4) {
        vv = vv + 0.0001
    }
    hInf = 1/(1 + exp((vv + 48.8)/10))
    a = (-2.88e-6*(vv + 17))/(1 - exp((vv + 17)/4.63))
    b = (6.94e-6*(vv + 64.4))/(1 - exp(-(vv + 64.4)/2.63))
    hTau = (1/(a + b))/qt
}
