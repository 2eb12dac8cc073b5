COMMENT
Im: muscarinic (M-type) slow non-inactivating potassium current.

g = gImbar * m, ik = g * (v - ek). Hodgkin-Huxley gate with exponential
alpha/beta rates; the time constant is divided by the fixed temperature
factor qt = 2.3^((34-21)/10) (celsius is not read).

Reference: Adams PR, Brown DA, Constanti A (1982) M-currents and other
potassium currents in bullfrog sympathetic neurones. J Physiol 330:537-572;
as used in the L5PT model of Hay E et al. (2011) PLoS Comput Biol 7:e1002107.

Written for pspsweep from pspsweep's specification (ISF reference
specification, section 5.3); no code was copied.
ENDCOMMENT

NEURON {
    THREADSAFE
    SUFFIX Im
    USEION k READ ek WRITE ik
    RANGE gImbar, gIm, ik
    RANGE mInf, mTau
}

UNITS {
    (S) = (siemens)
    (mV) = (millivolt)
    (mA) = (milliamp)
}

PARAMETER {
    gImbar = 0.00001 (S/cm2)
}

ASSIGNED {
    v (mV)
    ek (mV)
    ik (mA/cm2)
    gIm (S/cm2)
    mInf (1)
    mTau (ms)
}

STATE {
    m
}

BREAKPOINT {
    SOLVE states METHOD cnexp
    gIm = gImbar*m
    ik = gIm*(v - ek)
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
    LOCAL qt, a, b
    qt = 2.3^((34 - 21)/10)
    a = 3.3e-3*exp(0.1*(vm + 35))
    b = 3.3e-3*exp(-0.1*(vm + 35))
    mInf = a/(a + b)
    mTau = (1/(a + b))/qt
}
