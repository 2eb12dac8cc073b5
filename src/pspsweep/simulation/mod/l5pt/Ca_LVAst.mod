COMMENT
Ca_LVAst: low-voltage-activated (T-type) calcium current.

g = gCa_LVAstbar * m^2 * h, ica = g * (v - eca). The gate equations are
written in u = v + 10 mV (a junction-potential correction); time constants
are divided by the fixed temperature factor qt = 2.3^((34-21)/10) (celsius
is not read).

Reference: Avery RB & Johnston D (1996) Multiple channel types contribute to
the low-voltage-activated calcium current in hippocampal CA3 pyramidal
neurons. J Neurosci 16:5567-5582; Randall AD & Tsien RW (1997) Contrasting
biophysical and pharmacological properties of T-type and R-type calcium
channels. Neuropharmacology 36:879-893; as used in the L5PT model of Hay E
et al. (2011) PLoS Comput Biol 7:e1002107.

Written for pspsweep from pspsweep's specification (ISF reference
specification, section 5.3); no code was copied.
ENDCOMMENT

NEURON {
    THREADSAFE
    SUFFIX Ca_LVAst
    USEION ca READ eca WRITE ica
    RANGE gCa_LVAstbar, gCa_LVAst, ica
    RANGE mInf, mTau, hInf, hTau
}

UNITS {
    (S) = (siemens)
    (mV) = (millivolt)
    (mA) = (milliamp)
}

PARAMETER {
    gCa_LVAstbar = 0.00001 (S/cm2)
}

ASSIGNED {
    v (mV)
    eca (mV)
    ica (mA/cm2)
    gCa_LVAst (S/cm2)
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
    gCa_LVAst = gCa_LVAstbar*m*m*h
    ica = gCa_LVAst*(v - eca)
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
    mInf = 1/(1 + exp(-(u + 30)/6))
    mTau = (5 + 20/(1 + exp((u + 25)/5)))/qt
    hInf = 1/(1 + exp((u + 80)/6.4))
    hTau = (20 + 50/(1 + exp((u + 40)/7)))/qt
}
