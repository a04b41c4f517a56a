"""The run configuration: defaults, unknown keys, types, the models file, precedence."""

from __future__ import annotations

from pathlib import Path

import pytest
from adrs.evolve.config import RunConfig, config_from_mapping, config_to_mapping, load_config


def test_defaults_are_documented_values() -> None:
    config = load_config()
    assert config == RunConfig()
    assert config.budget == 1000 and config.islands.count == 4
    assert config.generator_kind == "mutator"
    assert [d.name for d in config.archive.dims] == ["code_length", "ast_distance"]


def test_unknown_key_names_the_dotted_key(tmp_path: Path) -> None:
    path = tmp_path / "run.yaml"
    path.write_text("islands:\n  cuont: 3\n")
    with pytest.raises(ValueError, match=r"run.yaml: unknown key 'islands.cuont'"):
        load_config(path)


def test_unknown_top_level_key() -> None:
    with pytest.raises(ValueError, match="unknown key 'budgett'"):
        config_from_mapping({"budgett": 3})


@pytest.mark.parametrize(("data", "message"), [
    ({"budget": "many"}, "budget: expected an integer"),
    ({"budget": 0}, "budget must be at least 1"),
    ({"sandbox": {"timeout_s": -1}}, "sandbox.timeout_s must be positive"),
    ({"generator": {"kind": "magic"}}, "generator.kind must be auto, llm or mutator"),
    ({"generator": {"kind": "llm"}}, "generator.models is empty"),
    ({"archive": {"dims": [{"bins": 3}]}}, "missing key 'archive.dims\\[0\\].name'"),
    ({"archive": {"dims": [{"name": "x", "range": [1, 0]}]}}, "low < high"),
    ({"deterministic": "yes"}, "expected true or false"),
])
def test_bad_values_are_named(data: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        config_from_mapping(data)


def test_models_file_and_overrides(tmp_path: Path) -> None:
    models = tmp_path / "models.yaml"
    models.write_text("- name: small\n  base_url: http://127.0.0.1:9/v1\n  weight: 3\n"
                      "- name: big\n  api_key_env: MY_KEY\n  input_price: 2.5\n")
    config_file = tmp_path / "run.yaml"
    config_file.write_text("budget: 7\nislands: {count: 2}\n")
    config = load_config(config_file, models, overrides={"budget": 9, "seed": None},
                         base={"islands": {"migration_interval": 5}, "budget": 3})
    assert config.budget == 9  # override beats file beats base
    assert config.islands.count == 2 and config.islands.migration_interval == 5
    assert [m.name for m in config.generator.models] == ["small", "big"]
    assert config.generator.models[1].api_key_env == "MY_KEY"
    assert config.generator_kind == "llm"


def test_models_file_errors(tmp_path: Path) -> None:
    bad = tmp_path / "models.yaml"
    bad.write_text("- name: a\n  wieght: 2\n")
    with pytest.raises(ValueError, match="unknown key 'models\\[0\\].wieght'"):
        load_config(models_path=bad)
    with pytest.raises(FileNotFoundError, match="no such file"):
        load_config(models_path=tmp_path / "missing.yaml")


def test_round_trip_through_plain_data() -> None:
    config = config_from_mapping({"budget": 5, "archive": {"dims": [
        "code_length", {"name": "mse", "range": [0, 2], "bins": 4}]}})
    assert config_from_mapping(config_to_mapping(config)) == config


def test_the_reference_documents_every_key() -> None:
    text = (Path(__file__).parents[2] / "docs" / "evolver.md").read_text()

    def keys(data: dict, prefix: str = "") -> list[str]:
        found = []
        for key, value in data.items():
            if isinstance(value, dict):
                found += keys(value, f"{prefix}{key}.")
            else:
                found.append(prefix + key)
        return found

    from adrs.evolve.config import DimConfig, ModelConfig

    documented = keys(config_to_mapping(RunConfig()))
    documented += [f"archive.dims[].{f}" for f in DimConfig.__dataclass_fields__]
    documented += [f"generator.models[].{f}" for f in ModelConfig.__dataclass_fields__]
    missing = [key for key in documented if f"| `{key}` |" not in text]
    assert missing == []
