"""The SONATA biophysics readers against bmtk's own NeuroML2 parser, and the two file
formats of the shared circuit against each other (its ``ctdb`` JSON fits and its ``nml``
cell files hold the same five Allen Cell Types models)."""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers.bmtk_reference import COMPONENTS_300

from pspsweep.io.sonata_biophysics import SECTION_LABELS, json_biophysics, nml_biophysics

pytestmark = pytest.mark.realdata

TEMPLATES = COMPONENTS_300 / "biophysical_neuron_templates"
MODELS = ("472363762", "473863510", "473863035", "472912177", "473862421")


@pytest.fixture(scope="module", autouse=True)
def shared_circuit() -> None:
    if not TEMPLATES.is_dir():
        pytest.skip(f"the shared bmtk components are not at {TEMPLATES}")


def bmtk_nml_tree():
    """bmtk's NMLTree, its module loaded alone (importing bmtk.simulator.bionet would load
    NEURON and bmtk's templates into the test process)."""
    import importlib.util

    import bmtk

    path = Path(bmtk.__file__).parent / "simulator" / "bionet" / "nml_reader.py"
    spec = importlib.util.spec_from_file_location("bmtk_nml_reader", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.NMLTree


@pytest.mark.parametrize("model", MODELS)
def test_nml_reads_as_bmtk_reads_it(model):
    NMLTree = bmtk_nml_tree()
    path = TEMPLATES / "nml" / f"Cell_{model}.cell.nml"
    tree = NMLTree(str(path))
    ours = {b.label: b for b in nml_biophysics(path)}
    for section_type, label in SECTION_LABELS.items():
        bio = ours[label]
        mechanisms = {m.name: m.params for m in bio.mechanisms}
        for prop in tree[section_type].values():
            tag = prop.element_tag()
            if tag == "resistivity":
                assert bio.Ra == prop.value
            elif tag == "specificCapacitance":
                assert bio.cm == prop.value
            elif tag == "concentrationModel":
                assert mechanisms[prop.id] == {"gamma": prop.gamma, "decay": prop.decay}
            elif prop.ion_channel == "pas":
                assert mechanisms["pas"] == {"g": prop.cond_density, "e": prop.erev}
            else:
                bare = prop.id[: -len(prop.ion_channel) - 1]
                assert mechanisms[prop.ion_channel][bare] == prop.cond_density
                if prop.ion in ("na", "k"):
                    assert bio.ions["e" + prop.ion] == prop.erev


@pytest.mark.parametrize("model", MODELS)
def test_json_fit_and_nml_give_the_same_model(model):
    nml = {b.label: b for b in nml_biophysics(TEMPLATES / "nml" / f"Cell_{model}.cell.nml")}
    fit = {b.label: b for b in json_biophysics(TEMPLATES / "ctdb" / f"{model}_fit.json")}
    # the PV fits give no cm for apical sections, which PV cells do not have
    assert set(fit) <= set(nml)
    for label, b in fit.items():
        a = nml[label]
        assert a.Ra == pytest.approx(b.Ra) and a.cm == pytest.approx(b.cm)
        assert a.ions == pytest.approx(b.ions)
        ma, mb = {m.name: m.params for m in a.mechanisms}, {m.name: m.params for m in b.mechanisms}
        assert set(ma) == set(mb)
        for name in ma:
            assert ma[name] == pytest.approx(mb[name], rel=1e-9)
