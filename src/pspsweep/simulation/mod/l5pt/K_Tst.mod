COMMENT
K_Tst: fast inactivating (transient) potassium current.

g = gK_Tstbar * m^4 * h, ik = g * (v - ek). The gate equations are written
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
    SUFFIX K_Tst
    USEION k READ ek WRITE ik
    RANGE gK_Tstbar, gK_Tst, ik
    RANGE mInf, mTau, hInf, hTau
}

UNITS {
    (S) = (siemens)
    (mV) = (millivolt)
    (mA) = (milliamp)
}

PARAMETER {
    gK_Tstbar = 0.00001 (S/cm2)
}

ASSIGNED {
    v (mV)
    ek (mV)
    ik (mA/cm2)
    gK_Tst (S/cm2)
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
    gK_Tst = gK_Tstbar*m*m*m*m*h
    ik = gK_Tst*(v - ek)
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
    mInf = 1/(1 + exp(-u/19))
    mTau = (0.34 + 0.92*exp(-((u + 71)/59)*((u + 71)/59)))/qt
    hInf = 1/(1 + exp((u + 66)/10))
    hTau = (8 + 49*exp(-((u + 73)/23)*((u + 73)/23)))/qt
}
