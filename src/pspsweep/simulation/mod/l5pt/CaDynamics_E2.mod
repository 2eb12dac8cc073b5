COMMENT
CaDynamics_E2: intracellular calcium pool in a thin shell below the membrane.

Calcium entering through the membrane (total ica of the segment, a fraction
gamma of which stays free) accumulates in a shell of thickness depth and is
removed with first-order kinetics (time constant decay) towards minCai:

    dcai/dt = -1e4 * ica * gamma / (2 * F * depth) - (cai - minCai) / decay

There is intentionally no INITIAL block: cai starts at NEURON's calcium ion
default (cai0_ca_ion = 5e-5 mM) and relaxes towards minCai during the run,
as in the reference model.

Reference: submembrane calcium shell model after Destexhe et al. (1994);
as used in the L5PT model of Hay E et al. (2011) PLoS Comput Biol
7:e1002107.

Written for pspsweep from pspsweep's specification (ISF reference
specification, section 5.3); no code was copied.
ENDCOMMENT

NEURON {
    THREADSAFE
    SUFFIX CaDynamics_E2
    USEION ca READ ica WRITE cai
    RANGE decay, gamma, minCai, depth
}

UNITS {
    (mV) = (millivolt)
    (mA) = (milliamp)
    (mM) = (milli/liter)
    (um) = (micron)
    FARADAY = (faraday) (coulomb)
}

PARAMETER {
    gamma = 0.05 (1)        : fraction of free calcium (not buffered)
    decay = 80 (ms)         : time constant of calcium removal
    depth = 0.1 (um)        : depth of the submembrane shell
    minCai = 1e-4 (mM)      : resting calcium concentration
}

ASSIGNED {
    ica (mA/cm2)
}

STATE {
    cai (mM)
}

BREAKPOINT {
    SOLVE states METHOD cnexp
}

DERIVATIVE states {
    : 1e4 converts depth from um to cm (mA/cm2 / (C/mol * um) -> mM/ms).
    cai' = -(10000)*(ica*gamma/(2*FARADAY*depth)) - (cai - minCai)/decay
}
