import json
import os
import pickle
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from layergan import checkpoint as ckpt
from layergan.data.prepare import PrepareOptions, prepare
from layergan.errors import CheckpointError, ConfigError
from layergan.evaluation.monitor import training_monitor
from layergan.methods.registry import METHODS, resolve
from layergan.training.trainer import Trainer, TrainingDiverged
from tests.test_models import TINY


@pytest.fixture(scope="module")
def prepared(synth_root, tmp_path_factory):
    out = tmp_path_factory.mktemp("prepared")
    prepare(PrepareOptions(src=synth_root, out=out), progress=False)
    return out


def config(prepared, out, method="layergan", steps=4, **kw):
    """The method's real defaults, with tiny widths and sizes."""
    overrides = dict(data=str(prepared), out=str(out), size=32, batch=2, steps=steps, workers=0, checkpoint_every=2,
                     sample_every=100, log_every=1, deterministic=True, model=TINY)
    return resolve(method, source="test", overrides={**overrides, **kw})


def trainer(cfg, **kw) -> Trainer:
    return Trainer(cfg, progress=False, monitor=training_monitor(), **kw)


@pytest.mark.parametrize("method", list(METHODS))
def test_every_method_trains_with_finite_losses(prepared, tmp_path, method):
    result = trainer(config(prepared, tmp_path, method, steps=3)).run()
    assert result["step"] == 3
    lines = [json.loads(l) for l in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert len(lines) == 3 and all(torch.isfinite(torch.tensor(v)) for l in lines for k, v in l.items())
    assert any("l1" in k for k in lines[0])
    assert (tmp_path / "config.yaml").exists() and list((tmp_path / "samples").glob("*.png"))
    assert list((tmp_path / "tensorboard").iterdir())


def weights(run: Path) -> dict[str, torch.Tensor]:
    folder, _ = ckpt.resolve(run)
    return {**load_file(str(folder / "G.safetensors")), **{f"ema.{k}": v for k, v in
                                                           load_file(str(folder / "G_ema.safetensors")).items()},
            **{f"D.{k}": v for k, v in load_file(str(folder / "D.safetensors")).items()}}


def assert_same_weights(a: Path, b: Path) -> None:
    wa, wb = weights(a), weights(b)
    assert wa.keys() == wb.keys()
    assert all(torch.equal(wa[k], wb[k]) for k in wa), [k for k in wa if not torch.equal(wa[k], wb[k])][:3]


@pytest.mark.parametrize("method", ["layergan", "pix2pix"])
def test_resume_gives_identical_weights(prepared, tmp_path, method):
    trainer(config(prepared, tmp_path / "full", method, steps=4)).run()
    trainer(config(prepared, tmp_path / "half", method, steps=2)).run()
    trainer(config(prepared, tmp_path / "half", method, steps=4)).run()
    assert_same_weights(tmp_path / "full", tmp_path / "half")


def test_sigterm_saves_checkpoint_and_run_resumes(prepared, tmp_path):
    run = trainer(config(prepared, tmp_path, steps=50))
    original = run.train_step

    def step_then_signal(batch):
        values = original(batch)
        if run.step == 2:
            os.kill(os.getpid(), signal.SIGTERM)
        return values

    run.train_step = step_then_signal
    result = run.run()
    assert result["interrupted"] and result["step"] == 3
    assert ckpt.resolve(tmp_path)[1]["step"] == 3
    resumed = trainer(config(prepared, tmp_path, steps=5))
    assert resumed.step == 3 and resumed.run()["step"] == 5


def test_partial_or_corrupt_checkpoint_is_refused_and_previous_used(prepared, tmp_path):
    trainer(config(prepared, tmp_path, steps=4)).run()
    newest = ckpt.list_checkpoints(tmp_path)[-1]
    data = bytearray((newest / "G.safetensors").read_bytes())
    data[-10] ^= 0xFF
    (newest / "G.safetensors").write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match="corrupt"):
        ckpt.verify(newest)
    (tmp_path / "ckpt-00000009").mkdir()  # a partial folder without state.json
    messages = []
    folder, state = ckpt.latest_valid(tmp_path, warn=messages.append)
    assert state["step"] == 2 and len(messages) == 2
    assert trainer(config(prepared, tmp_path, steps=4)).step == 2


class _Exploit:
    def __reduce__(self):
        return (os.system, ("echo pwned > /tmp/layergan_pwned",))


def test_pickle_payload_in_checkpoint_is_refused(prepared, tmp_path):
    trainer(config(prepared, tmp_path, steps=2)).run()
    folder = ckpt.list_checkpoints(tmp_path)[-1]
    with open(folder / "optim.pt", "wb") as f:
        pickle.dump({"G": _Exploit()}, f)
    with pytest.raises(CheckpointError, match="refused to load"):
        ckpt.load_tensors(folder / "optim.pt")
    assert not Path("/tmp/layergan_pwned").exists()


def test_nan_loss_stops_with_step_and_loss_named(prepared, tmp_path):
    run = trainer(config(prepared, tmp_path, method="pix2pix", steps=3))
    with torch.no_grad():
        next(run.G.parameters()).fill_(float("nan"))  # what an exploding learning rate ends in
    with pytest.raises(TrainingDiverged, match=r"step 1: loss \S+ is nan; stopped. No checkpoint had been written"):
        run.run()


def test_torchrun_two_ranks_on_gloo_keep_identical_weights(prepared, tmp_path):
    cfg_path = tmp_path / "run.yaml"
    cfg = config(prepared, tmp_path / "ddp", steps=2, batch=4)
    cfg_path.write_text(cfg.to_yaml())
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    script = (
        "import sys, torch, torch.distributed as dist\n"
        "from layergan.methods.registry import resolve\n"
        "from layergan.evaluation.monitor import training_monitor\n"
        "from layergan.training.trainer import Trainer\n"
        f"cfg = resolve(config_path={str(cfg_path)!r})\n"
        "t = Trainer(cfg, progress=False, monitor=training_monitor())\n"
        "t.run()\n"
        "flat = torch.cat([p.detach().reshape(-1) for p in list(t.G.parameters()) + list(t.Ds.parameters())])\n"
        "gathered = [torch.zeros_like(flat) for _ in range(dist.get_world_size())]\n"
        "dist.all_gather(gathered, flat)\n"
        "assert all(torch.equal(gathered[0], g) for g in gathered), 'ranks differ'\n"
        "print('RANKS_IDENTICAL', dist.get_rank())\n"
    )
    (tmp_path / "ddp_check.py").write_text(script)
    result = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", "--master_port=29533",
                             str(tmp_path / "ddp_check.py")], capture_output=True, text=True, env=env, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.count("RANKS_IDENTICAL") == 2
    assert ckpt.resolve(tmp_path / "ddp")[1]["world_size"] == 2


@pytest.mark.parametrize("method", ["pix2pix", "thermalgan", "layergan"])
def test_generator_runs_forward_once_per_step_and_critic_phases_leave_it_alone(prepared, tmp_path, method):
    run = trainer(config(prepared, tmp_path, method, steps=1))
    batch = run.next_batch(run.make_batches())
    calls = []
    run.G.register_forward_hook(lambda *args: calls.append(1))
    run.train_step(batch)
    assert len(calls) == 1

    output = run.G(batch)
    run.G.zero_grad(set_to_none=True)
    for phase in run.loss.phases:
        run.loss.accumulate_gradients(phase.name, batch, output)
        if phase.optimizer == "D":
            assert all(p.grad is None for p in run.G.parameters()), "D's backward reached G"
    assert sum(p.grad.abs().sum() for p in run.G.parameters() if p.grad is not None) > 0


@pytest.mark.parametrize("method", ["layergan", "pix2pix"])
def test_checkpoints_and_sample_grids_do_not_change_the_training_stream(prepared, tmp_path, method):
    """Held-out MAE and sample grids run G between steps: nothing in them may draw from the training RNG."""
    often = config(prepared, tmp_path / "often", method, steps=4)
    often.checkpoint_every, often.sample_every = 1, 1
    rarely = config(prepared, tmp_path / "rarely", method, steps=4)
    rarely.checkpoint_every, rarely.sample_every = 4, 4
    trainer(often).run()
    trainer(rarely).run()
    assert_same_weights(tmp_path / "often", tmp_path / "rarely")


def test_resume_refuses_changed_settings_and_accepts_a_longer_run(prepared, tmp_path):
    trainer(config(prepared, tmp_path, steps=2)).run()
    with pytest.raises(ConfigError, match=r"resuming with different settings \(optim, seed\)"):
        trainer(config(prepared, tmp_path, steps=4, seed=3, optim={"lr_g": 5e-4}))
    resumed = trainer(config(prepared, tmp_path, steps=4, log_every=2))  # steps and log_every may change
    assert resumed.step == 2 and resumed.cfg.steps == 4 and resumed.cfg.log_every == 2


@pytest.mark.parametrize("method", list(METHODS))
def test_two_bf16_channels_last_steps_of_every_method_on_cpu(prepared, tmp_path, method):
    """The CUDA fast path (bf16 autocast + channels_last), exercised on the CPU so that CI covers it."""
    run = trainer(config(prepared, tmp_path, method, steps=2, precision="bf16"))
    assert run.amp
    seen = []
    for module in (run.G, *run.Ds.values()):
        for layer in module.modules():
            if isinstance(layer, torch.nn.Conv2d):
                layer.register_forward_hook(lambda m, i, o: seen.append((i[0].dtype, o.dtype)))
    result = run.run()
    assert result["step"] == 2
    lines = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert len(lines) == 2 and all(torch.isfinite(torch.tensor(v)) for line in lines for v in line.values())
    assert seen and all(out == torch.bfloat16 for _, out in seen)  # autocast ran every convolution in bf16
