"""Hardware profiles: built-ins, validation, file round trips, derived geometry."""

from __future__ import annotations

import json

import pytest

from nmgraph.compilers.hardware import (
    BUILTIN_NAMES,
    EnergyModel,
    HardwareProfile,
    builtin_profiles,
    load_profile,
    load_profile_file,
    profiles_table,
)
from nmgraph.core.errors import FileFormatError, ValidationError

MINIMAL = {"name": "mychip", "neurons_per_core": 128, "max_delay": 8}


def custom(**changes):
    data = dict(MINIMAL)
    data.update(changes)
    return data


# ---------------------------------------------------------------------------------------- built-ins

def test_every_builtin_loads_and_validates():
    profiles = builtin_profiles()
    assert tuple(profiles) == BUILTIN_NAMES
    for name, profile in profiles.items():
        assert profile.name == name
        assert load_profile(name) == profile
        assert load_profile(name.upper()) == profile
        # constructing again from its own fields validates
        assert HardwareProfile.from_dict(profile.to_dict()) == profile
        hash(profile)


def test_every_constant_of_every_builtin_has_a_source():
    for profile in builtin_profiles().values():
        assert profile.unsourced() == [], profile.name
        for key in HardwareProfile.constant_names():
            assert isinstance(profile.sources.get(key), str) and profile.sources[key], (
                profile.name, key)
        for key in EnergyModel.constant_names():
            if getattr(profile.energy, key) is not None:
                assert profile.energy.sources.get(key), (profile.name, key)
        for key in profile.uncertain:
            assert key in profile.sources


def test_loihi1_matches_design():
    hw = load_profile("loihi1")
    assert hw.neurons_per_core == 1024
    assert hw.axons_in_per_core == 4096 and hw.axons_out_per_core == 4096
    assert hw.synapse_memory_bits_per_core == 16384 * 64
    assert hw.cores_per_chip == 128 and hw.mesh_shape == (8, 16)
    assert hw.max_delay == 62 and hw.weight_bits == 8 and hw.weight_rule == "loihi"
    assert hw.time_step_s is None
    e = hw.energy
    expected = {
        "synaptic_op_j": 23.6e-12, "synaptic_update_j": 120e-12,
        "neuron_update_inactive_j": 52e-12, "neuron_update_active_j": 81e-12,
        "spike_within_tile_j": 1.7e-12, "hop_ew_j": 3.0e-12, "hop_ns_j": 4.0e-12,
        "synaptic_op_s": 3.5e-9, "neuron_update_active_s": 8.4e-9,
        "hop_ew_s": 4.1e-9, "hop_ns_s": 6.5e-9,
        "barrier_min_s": 113e-9, "barrier_max_s": 465e-9,
    }
    for key, value in expected.items():
        assert getattr(e, key) == pytest.approx(value, rel=1e-12), key
    assert not e.uncertain
    assert dict(hw.systems) == {"Kapoho Bay": 2, "Wolf Mountain": 4, "Nahuku": 32,
                                "Pohoiki Beach": 64, "Pohoiki Springs": 768}


def test_other_builtins_key_figures():
    p = builtin_profiles()
    assert p["loihi2"].max_delay == 63 and p["loihi2"].systems["Hala Point"] == 1152
    assert "neurons_per_core" in p["loihi2"].uncertain
    assert "axons_in_per_core" in p["loihi2"].uncertain
    assert p["loihi2"].energy.uncertain == frozenset(
        k for k in EnergyModel.constant_names() if getattr(p["loihi2"].energy, k) is not None)
    s1 = p["spinnaker1"]
    assert (s1.neurons_per_core, s1.cores_per_chip, s1.max_delay) == (256, 16, 16)
    assert s1.router_entries_per_chip == 1023 and s1.packet_bits == 40
    assert s1.time_step_s == 1e-3 and s1.topology == "chip_router"
    assert s1.energy.static_chip_w == 0.35 and s1.energy.static_active_core_w == 0.034
    assert s1.energy.router_bit_j == 2.5e-11
    assert dict(s1.systems) == {"SpiNN-3": 4, "SpiNN-5": 48}
    assert p["spinnaker2"].cores_per_chip == 152
    assert p["spinnaker2"].router_entries_per_chip == 16384
    assert "neurons_per_core" in p["spinnaker2"].uncertain
    tn = p["truenorth"]
    assert (tn.neurons_per_core, tn.axons_in_per_core, tn.fanout_cores_per_neuron) == (256, 256, 1)
    assert tn.synapse_capacity == 256 * 256 and tn.cores_per_chip == 4096
    assert tn.mesh_shape == (64, 64) and tn.max_delay == 15 and "max_delay" in tn.uncertain
    assert tn.weight_rule == "truenorth"
    g = p["generic"]
    assert g.neurons_per_core == 4096 and g.max_delay == 63 and g.cores_per_chip is None
    assert g.synapse_capacity is None and g.max_cores is None


def test_synapse_capacity_and_limits():
    p = builtin_profiles()
    assert p["loihi1"].synapse_capacity == 16384 * 64 // 24
    assert p["spinnaker1"].synapse_capacity == 123469792 * 8 // 16 // 32
    capped = load_profile(custom(synapse_memory_bits_per_core=1000, bits_per_synapse=10,
                                 synapses_per_core=50))
    assert capped.synapse_capacity == 50
    assert load_profile(custom()).synapse_capacity is None
    assert p["spinnaker1"].spike_source_capacity == 500
    assert p["loihi1"].spike_source_capacity == 1024


# ------------------------------------------------------------------------------------- round trips

@pytest.mark.parametrize("name", BUILTIN_NAMES)
def test_round_trip_dict_json_toml(name, tmp_path):
    profile = load_profile(name)
    data = profile.to_dict()
    text = json.dumps(data)                      # JSON-serialisable
    assert HardwareProfile.from_dict(json.loads(text)) == profile
    json_path = tmp_path / f"{name}.json"
    json_path.write_text(profile.to_json())
    from_json = load_profile(json_path)
    assert from_json == profile and from_json.sources == profile.sources
    assert from_json.origin == f"{name}.json"
    toml_path = tmp_path / f"{name}.toml"
    toml_path.write_text(profile.to_toml())
    from_toml = load_profile(str(toml_path))
    assert from_toml == profile
    assert from_toml.energy.sources == profile.energy.sources
    assert from_toml.uncertain == profile.uncertain


def test_round_trip_with_system(tmp_path):
    profile = load_profile("loihi1:Pohoiki Springs")
    assert profile.system == "Pohoiki Springs" and profile.chips_available == 768
    path = tmp_path / "big.toml"
    path.write_text(profile.to_toml())
    assert load_profile(path) == profile


def test_plain_and_inline_forms_agree():
    plain = HardwareProfile.from_dict(custom(axons_in_per_core=64,
                                             sources={"axons_in_per_core": "my notes"},
                                             uncertain=["axons_in_per_core"]))
    inline = HardwareProfile.from_dict(custom(axons_in_per_core={
        "value": 64, "source": "my notes", "uncertain": True}))
    assert plain == inline
    absent = HardwareProfile.from_dict(custom(axons_in_per_core={"source": "no limit"}))
    assert absent.axons_in_per_core is None and absent.sources["axons_in_per_core"] == "no limit"


def test_custom_profile_inherits_from_base(tmp_path):
    path = tmp_path / "half.toml"
    path.write_text('base = "loihi1"\nname = "half"\n'
                    'neurons_per_core = { value = 512, source = "our lab" }\n'
                    '[energy]\nsynaptic_op_j = 1e-12\n')
    hw = load_profile(path)
    loihi = load_profile("loihi1")
    assert hw.name == "half" and hw.neurons_per_core == 512
    assert hw.sources["neurons_per_core"] == "our lab"
    assert hw.axons_in_per_core == loihi.axons_in_per_core
    assert hw.sources["axons_in_per_core"] == loihi.sources["axons_in_per_core"]
    assert hw.energy.synaptic_op_j == 1e-12 and "half.toml" in hw.energy.sources["synaptic_op_j"]
    assert hw.energy.hop_ew_j == loihi.energy.hop_ew_j
    assert hw.unsourced() == []


# ------------------------------------------------------------------------------------- validation

BAD = [
    # (changes to MINIMAL, field named in the message, fragment of the message)
    ({"neurons_per_core": -3}, "neurons_per_core", "must be a positive int"),
    ({"neurons_per_core": 0}, "neurons_per_core", "must be a positive int"),
    ({"neurons_per_core": True}, "neurons_per_core", "must be a positive int"),
    ({"neurons_per_core": 1024.0}, "neurons_per_core", "must be a positive int"),
    ({"neurons_per_core": "1024"}, "neurons_per_core", "must be a positive int"),
    ({"axons_in_per_core": -1}, "axons_in_per_core", "must be a positive int"),
    ({"neurons_per_cor": 12}, "neurons_per_cor", "did you mean 'neurons_per_core'"),
    ({"weight_rule": "lohi"}, "weight_rule", "must be one of"),
    ({"weight_rule": "int16", "weight_bits": 8}, "weight_bits", "must be 16"),
    ({"weight_rule": "loihi", "weight_bits": 9}, "weight_bits", "must be 8"),
    ({"weight_rule": "truenorth", "weight_bits": 12}, "weight_bits", "<= 8"),
    ({"max_delay": 0}, "max_delay", "1..255"),
    ({"max_delay": 300}, "max_delay", "1..255"),
    ({"cores_per_chip": 128, "mesh_shape": [8, 8]}, "mesh_shape", "fewer than cores_per_chip"),
    ({"cores_per_chip": 4, "mesh_shape": [2, 2, 1]}, "mesh_shape", "pair"),
    ({"mesh_shape": [2, 2]}, "cores_per_chip", "is required when mesh_shape"),
    ({"synapse_memory_bits_per_core": 1024}, "bits_per_synapse", "is required"),
    ({"synapse_memory_bits_per_core": 8, "bits_per_synapse": 16}, "bits_per_synapse", "larger"),
    ({"topology": "torus"}, "topology", "must be one of"),
    ({"time_step_s": -1e-3}, "time_step_s", "positive"),
    ({"systems": {"Board": 0}}, "systems.Board", "positive int"),
    ({"systems": {"Board": 4}, "system": "Other"}, "system", "unknown system"),
    ({"systems": {"Board": 4}, "system": "Board", "cores_per_chip": 4, "chips_available": 5},
     "chips_available", "does not match"),
    ({"cores_per_chip": 4, "chips_available": 9, "chip_mesh": [2, 2]}, "chip_mesh", "fewer"),
    ({"chips_available": 3}, "chips_available", "cores_per_chip is none"),
    ({"energy": {"synaptic_op_j": -1.0}}, "energy.synaptic_op_j", "non-negative"),
    ({"energy": {"synaptic_op_j": "23 pJ"}}, "energy.synaptic_op_j", "must be a number"),
    ({"energy": {"synaptic_opj": 1e-12}}, "energy.synaptic_opj", "did you mean"),
    ({"energy": {"barrier_min_s": 2e-7, "barrier_max_s": 1e-7}}, "energy.barrier_max_s", ">="),
    ({"energy": 5}, "energy", "table"),
    ({"sources": {"neuron_per_core": "x"}}, "sources.neuron_per_core", "unknown field"),
    ({"sources": {"neurons_per_core": 3}}, "sources.neurons_per_core", "must be a string"),
    ({"uncertain": "max_delay"}, "uncertain", "list of field names"),
    ({"uncertain": ["max_dly"]}, "uncertain", "unknown field"),
    ({"neurons_per_core": {"value": 4, "sorce": "typo"}}, "neurons_per_core", "inline table"),
    ({"neurons_per_core": {"value": 4, "uncertain": "yes"}}, "neurons_per_core.uncertain",
     "true or false"),
    ({"name": "my chip!"}, "name", "non-empty name"),
    ({"base": "loihi9"}, "base", "built-in"),
]


@pytest.mark.parametrize(("changes", "field_name", "fragment"), BAD,
                         ids=[f"{b[1]}-{i}" for i, b in enumerate(BAD)])
def test_bad_profiles_name_the_field(changes, field_name, fragment):
    with pytest.raises(ValidationError) as info:
        HardwareProfile.from_dict(custom(**changes), origin="file.toml")
    text = str(info.value)
    assert f".{field_name}:" in text, text
    assert fragment in text, text
    assert "(file.toml)" in text
    assert info.value.attribute == field_name


def test_error_message_format():
    with pytest.raises(ValidationError) as info:
        HardwareProfile.from_dict(custom(neurons_per_core=-3))
    assert str(info.value) == ("HardwareProfile 'mychip'.neurons_per_core: must be a positive int "
                               "up to 2**62 (got -3)")


def test_huge_profile_counts_are_refused():
    with pytest.raises(ValidationError, match="up to 2"):
        HardwareProfile.from_dict(custom(neurons_per_core=10**20))


def test_unknown_key_lists_known_keys():
    with pytest.raises(ValidationError) as info:
        HardwareProfile.from_dict(custom(axon_in=4))
    assert "known fields:" in str(info.value) and "axons_in_per_core" in str(info.value)


@pytest.mark.parametrize("data", [
    {"neurons_per_core": 4, "max_delay": 2},            # no name
    {"name": "x", "max_delay": 2},                      # no neurons_per_core
    {"name": "x", "neurons_per_core": 4},               # no max_delay
    ["not", "a", "table"],
    None,
])
def test_missing_or_malformed_profiles(data):
    with pytest.raises(ValidationError):
        HardwareProfile.from_dict(data)


def test_direct_construction_validates():
    with pytest.raises(ValidationError, match="max_delay"):
        HardwareProfile(name="x", neurons_per_core=4, max_delay=0)
    with pytest.raises(ValidationError, match=r"EnergyModel\.hop_ew_j"):
        EnergyModel(hop_ew_j=-1)
    hw = HardwareProfile(name="x", neurons_per_core=4, max_delay=3, mesh_shape=[2, 2],
                         cores_per_chip=4, energy={"synaptic_op_j": 1e-12})
    assert hw.mesh_shape == (2, 2) and hw.energy.synaptic_op_j == 1e-12
    with pytest.raises(TypeError):  # the sources mapping is read-only
        hw.sources["x"] = "y"


# ------------------------------------------------------------------------------- replace, systems

def test_replace_is_validated_and_tracks_sources():
    loihi = load_profile("loihi1")
    small = loihi.replace(neurons_per_core=512)
    assert small.neurons_per_core == 512 and loihi.neurons_per_core == 1024
    assert "set by user" in small.sources["neurons_per_core"]
    assert small.sources["axons_in_per_core"] == loihi.sources["axons_in_per_core"]
    changed = loihi.replace(bits_per_synapse=16)
    assert "bits_per_synapse" not in changed.uncertain
    assert changed.synapse_capacity == 16384 * 64 // 16
    with pytest.raises(ValidationError, match=r"'loihi1'.*neurons_per_core"):
        loihi.replace(neurons_per_core=-1)
    with pytest.raises(ValidationError, match="did you mean 'neurons_per_core'"):
        loihi.replace(neuron_per_core=1)
    cheaper = loihi.replace(energy=loihi.energy.replace(synaptic_op_j=1e-12))
    assert cheaper.energy.synaptic_op_j == 1e-12
    assert cheaper.energy.sources["hop_ew_j"] == loihi.energy.sources["hop_ew_j"]
    with pytest.raises(ValidationError, match=r"energy\.hop_ew_j"):
        loihi.replace(energy={"hop_ew_j": -2})


def test_with_system_and_chips():
    loihi = load_profile("loihi1")
    assert loihi.chips_available is None and loihi.max_cores is None
    nahuku = loihi.with_system("nahuku")
    assert nahuku.system == "Nahuku" and nahuku.chips_available == 32
    assert nahuku.max_cores == 32 * 128 and nahuku.max_chips == 32
    assert "Nahuku" in nahuku.sources["chips_available"]
    assert load_profile("loihi1:Pohoiki-Beach").chips_available == 64
    assert load_profile("spinnaker1:spinn_5").chips_available == 48
    assert nahuku.with_system(None).chips_available is None
    with pytest.raises(ValidationError, match=r"unknown system.*Nahuku"):
        loihi.with_system("Nowhere")
    with pytest.raises(ValidationError, match="unknown system"):
        load_profile("loihi1:Nowhere")
    assert loihi.chips_needed(0) == 0
    assert loihi.chips_needed(128) == 1 and loihi.chips_needed(129) == 2
    assert load_profile("generic").chips_needed(10_000) == 1


# --------------------------------------------------------------------------------------- geometry

def test_positions():
    loihi = load_profile("loihi1")
    assert loihi.mesh() == (8, 16)
    assert loihi.position(0) == (0, 0)
    assert loihi.position(17) == (1, 1)
    assert loihi.position(127) == (15, 7)
    positions = {loihi.position(i) for i in range(128)}
    assert len(positions) == 128
    with pytest.raises(ValidationError, match="core index"):
        loihi.position(128)
    with pytest.raises(ValidationError, match="core index"):
        loihi.position(-1)
    # chips tile: chip 1 of 2 sits to the right of chip 0
    assert loihi.chip_grid(2) == (1, 2)
    assert loihi.global_position(1, 0, n_chips=2) == (16, 0)
    assert loihi.chip_grid(32) == (6, 6)          # near-square, 4 places unused
    generic = load_profile("generic")
    assert generic.mesh(n_cores=10) == (3, 4)
    assert generic.position(9, n_cores=10) == (1, 2)
    with pytest.raises(ValidationError, match="n_cores"):
        generic.position(0)
    assert load_profile("spinnaker2").mesh() == (8, 19)


# ------------------------------------------------------------------------------- loading, display

def test_unknown_names_and_specs():
    with pytest.raises(ValidationError) as info:
        load_profile("loihi3")
    for name in BUILTIN_NAMES:
        assert name in str(info.value)
    with pytest.raises(ValidationError):
        load_profile(42)
    profile = load_profile("truenorth")
    assert load_profile(profile) is profile
    assert load_profile(custom()).name == "mychip"


def test_bad_files(tmp_path):
    with pytest.raises(ValidationError, match="no such file"):
        load_profile(tmp_path / "missing.toml")
    broken = tmp_path / "broken.toml"
    broken.write_text("name = \n")
    with pytest.raises(FileFormatError, match=r"broken\.toml"):
        load_profile(broken)
    broken_json = tmp_path / "broken.json"
    broken_json.write_text("{")
    with pytest.raises(FileFormatError, match="not valid JSON"):
        load_profile_file(broken_json)
    array = tmp_path / "array.json"
    array.write_text("[1, 2]")
    with pytest.raises(ValidationError, match=r"array\.json"):
        load_profile(array)
    typo = tmp_path / "typo.toml"
    typo.write_text('name = "t"\nneurons_per_core = 4\nmax_delay = 2\nmax_dealy = 3\n')
    with pytest.raises(ValidationError, match=r"HardwareProfile 't' \(typo.toml\)\.max_dealy"):
        load_profile(typo)


def test_profiles_table_lists_every_builtin():
    table = profiles_table()
    for name in BUILTIN_NAMES:
        assert f"| {name} |" in table
    assert "8192*" in table          # loihi2's uncertain neurons per core are marked
    assert "4096 (64x64)" in table
    md = load_profile("loihi1").to_markdown()
    assert "Davies et al. 2018" in md and "energy.hop_ns_j" in md
