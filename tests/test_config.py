"""One config path: registry.resolve, its precedence, refusals and `train --dry-run`."""

import pytest
import yaml
from click.testing import CliRunner

from layergan.cli.main import main
from layergan.errors import ConfigError
from layergan.methods.config import TrainConfig
from layergan.methods.registry import METHODS, resolve


def test_precedence_defaults_method_profile_file_options(tmp_path):
    assert TrainConfig().optim.lr_g == 1e-3
    assert resolve("pix2pix").optim.lr_g == 2e-4  # the method's published default beats the built-in one
    assert resolve("layergan").model.w_dim == TrainConfig().model.w_dim == 256
    assert resolve("layergan", profile="cpu-64").model.w_dim == 128  # the profile beats the defaults
    path = tmp_path / "run.yaml"
    path.write_text("model: {w_dim: 64}\nsteps: 9\n")
    from_file = resolve("layergan", path, profile="cpu-64")
    assert from_file.model.w_dim == 64 and from_file.steps == 9  # the file beats the profile
    assert from_file.model.channel_max == 128  # the profile's other values stay
    cli = resolve("layergan", path, {"model": {"w_dim": 32}}, profile="cpu-64")
    assert cli.model.w_dim == 32 and cli.steps == 9  # options beat the file


def test_method_comes_from_the_file_when_not_given(tmp_path):
    path = tmp_path / "run.yaml"
    path.write_text("method: thermalgan\n")
    cfg = resolve(config_path=path)
    assert cfg.method == "thermalgan" and cfg.encoding == "absolute"  # with thermalgan's defaults
    with pytest.raises(ConfigError, match="--method is required"):
        resolve()


@pytest.mark.parametrize("content, message", [
    ("stepz: 3\n", "unknown option stepz"),
    ("model: {widht: 3}\n", "unknown option model.widht"),
    ("model: 3\n", "model must be a mapping"),
    ("steps: many\n", "steps must be a number"),
    ("- a\n- b\n", "expected a mapping"),
    ("steps: [\n", "not valid YAML"),
])
def test_unknown_or_malformed_keys_are_refused_naming_the_file(tmp_path, content, message):
    path = tmp_path / "bad.yaml"
    path.write_text(content)
    with pytest.raises(ConfigError, match=message) as error:
        resolve("layergan", path)
    assert str(path) in str(error.value)


def test_unknown_method_and_profile_are_refused():
    with pytest.raises(ConfigError, match="valid methods: pix2pix"):
        resolve("stylegan9")
    with pytest.raises(ConfigError, match="unknown profile 'gpu-9000'"):
        resolve("layergan", profile="gpu-9000")


def test_every_method_declares_the_cpu_profile_and_its_critics():
    for name, method in METHODS.items():
        assert "cpu-64" in method.profiles, name
        assert method.class_critics == (name == "layergan")
        assert method.takes_temperatures == (name not in ("pix2pix", "thermalgan"))


def test_dry_run_prints_the_resolved_config_and_writes_nothing(tmp_path):
    path = tmp_path / "run.yaml"
    path.write_text("steps: 9\nloss: {l1: 50.0}\n")
    result = CliRunner().invoke(main, ["train", "--method", "layergan", "--profile", "cpu-64", "--config", str(path),
                                       "--steps", "7", "--out", str(tmp_path / "run"), "--data", str(tmp_path),
                                       "--dry-run"])
    assert result.exit_code == 0, result.output
    printed = yaml.safe_load(result.output)
    assert printed["method"] == "layergan" and printed["steps"] == 7 and printed["loss"]["l1"] == 50.0
    assert printed["model"]["w_dim"] == 128 and printed["optim"]["lr_g"] == 1e-3
    assert not (tmp_path / "run").exists()


def test_cli_refuses_an_unknown_method_with_the_choices():
    result = CliRunner().invoke(main, ["train", "--method", "stylegan9", "--dry-run"])
    assert result.exit_code == 2 and "layergan-reduced" in result.output


@pytest.mark.parametrize("profile, size", [("gpu-256", 256), ("gpu-512", 512)])
def test_gpu_profiles_are_wide_enough_at_full_resolution(profile, size):
    from layergan.models.stylegan2 import channels_at

    cfg = resolve("layergan", profile=profile)
    m = cfg.model
    assert cfg.size == size and cfg.precision == "auto" and cfg.optim.lr_encoder == 1e-4
    assert channels_at(size, m.channel_base, m.channel_max) >= 32  # the last generator block
    assert channels_at(size, m.d_channel_base, m.d_channel_max) >= 32  # a single critic
    assert channels_at(size, m.d_channel_base // m.class_d_divisor, m.d_channel_max // m.class_d_divisor) >= 32
    assert cfg.loss.l1 == pytest.approx(100.0 * size / 64)  # the 64 px balance of L1 and adversarial terms
    assert resolve("pix2pix", profile=profile).model.ngf == 64  # the baselines keep their published widths


def test_the_encoder_gets_its_own_learning_rate_group():
    from layergan.classes import default_classes
    from layergan.methods.registry import get_method

    cfg = resolve("seg2thermal", profile="cpu-64", overrides={"size": 32, "optim": {"lr_encoder": 1e-4}})
    built = get_method("seg2thermal").build(cfg, default_classes().names)
    groups = {g["name"]: g for g in built.param_groups(built.G, built.Ds, cfg)["G"]}
    assert groups["encoder"]["lr"] == 1e-4 and groups["synthesis"]["lr"] == cfg.optim.lr_g
    assert {id(p) for p in groups["encoder"]["params"]} == {id(p) for p in built.G.encoder.parameters()}
    assert sum(len(g["params"]) for g in groups.values()) == len(list(built.G.parameters()))


def test_l1_blur_must_be_a_non_negative_number():
    from layergan.methods.registry import resolve

    with pytest.raises(ConfigError, match="l1_blur"):
        resolve("layergan", overrides={"loss": {"l1_blur": -1}}).validate()
    assert resolve("layergan", overrides={"loss": {"l1_blur": 1.5}}).loss.l1_blur == 1.5
