COMMENT
K_Pst: slow, non-inactivating (persistent) potassium current.

g = gK_Pstbar * m^2 * h, ik = g * (v - ek). The gate equations are written
in u = v + 10 mV (a junction-potential correction); time constants are
divided by the fixed temperature factor qt = 2.3^((34-21)/10) (celsius is
not read).

Reference: Korngreen A & Sakmann B (2000) Voltage-gated K+ channels in
layer 5 neocortical pyramidal neurones from young rats: subtypes and
gradients. J Physiol 525:621-639; as used in the L5PT model of Hay E et al.
(2011) PLoS Comput Biol 7:e1002107.

Written for pspsweep from pspsweep's specification (ISF reference
specification, section 5.3); no code was copied.
ENDCOMMENT

NEURON {
    THREADSAFE
    SUFFIX K_Pst
    USEION k READ ek WRITE ik
    RANGE gK_Pstbar, gK_Pst, ik
    RANGE mInf, mTau, hInf, hTau
}

UNITS {
    (S) = (siemens)
    (mV) = (millivolt)
    (mA) = (milliamp)
}

PARAMETER {
    gK_Pstbar = 0.00001 (S/cm2)
}

ASSIGNED {
    v (mV)
    ek (mV)
    ik (mA/cm2)
    gK_Pst (S/cm2)
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
    gK_Pst = gK_Pstbar*m*m*h
    ik = gK_Pst*(v - ek)
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
    LOCAL qt, u
    qt = 2.3^((34 - 21)/10)
    u = vm + 10
    mInf = 1/(1 + exp(-(u + 1)/12))
    if (u < -50) {
        mTau = (1.25 + 175.03*exp(0.026*u))/qt
    } else {
        mTau = (1.25 + 13*exp(-0.026*u))/qt
    }
    hInf = 1/(1 + exp((u + 54)/11))
    hTau = (360 + (1010 + 24*(u + 55))*exp(-((u + 75)/48)*((u + 75)/48)))/qt
}
