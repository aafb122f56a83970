"""Nothing lost, nothing silent: bad input and faults, met through the CLI as a user meets them.

Each test names the defect it guards against. Every one asserts the message and that nothing was lost.
"""

import errno
import hashlib
import json
import os
import pickle
import shutil
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from click.testing import CliRunner

from layergan import checkpoint as ckpt
from layergan import io
from layergan.cli.main import main
from layergan.data.sample_file import read_sample_file
from layergan.errors import OutputError
from tests.helpers import two_object_scene, write_voc_sample
from tests.test_models import TINY

TINY_RUN = {"size": 32, "batch": 2, "workers": 0, "log_every": 1, "sample_every": 1000, "model": TINY}


def cli(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def tree_digest(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def one_line_error(result, *fragments):
    assert result.exit_code != 0, result.output
    assert "Traceback" not in result.output, result.output
    error = [line for line in result.output.splitlines() if line.startswith("Error")]
    assert len(error) == 1 and len(error[0]) < 600, result.output
    for fragment in fragments:
        assert fragment in result.output, (fragment, result.output)


@pytest.fixture(scope="module")
def data(synth_root, tmp_path_factory):
    out = tmp_path_factory.mktemp("reliability") / "prepared"
    assert cli("prepare", "--src", synth_root, "--out", out, "--quiet").exit_code == 0
    return out


@pytest.fixture(scope="module")
def tiny_config(tmp_path_factory):
    path = tmp_path_factory.mktemp("config") / "tiny.yaml"
    path.write_text(yaml.safe_dump(TINY_RUN))
    return path


def train(config, data, out, method="layergan-reduced", *extra):
    return cli("train", "--method", method, "--config", config, "--data", data, "--out", out, "--quiet", *extra)


@pytest.fixture(scope="module")
def runs(data, tiny_config, tmp_path_factory):
    """A layergan-reduced run with checkpoints at steps 1 and 2, and a pix2pix run."""
    root = tmp_path_factory.mktemp("runs")
    style = root / "style"
    assert train(tiny_config, data, style, "layergan-reduced", "--steps", 1).exit_code == 0
    assert train(tiny_config, data, style, "layergan-reduced", "--steps", 2).exit_code == 0  # resumes
    assert [f.name for f in ckpt.list_checkpoints(style)] == ["ckpt-00000001", "ckpt-00000002"]
    pix = root / "pix2pix"
    assert train(tiny_config, data, pix, "pix2pix", "--steps", 1).exit_code == 0
    return {"style": style, "pix2pix": pix}


# 0 -----------------------------------------------------------------------------------------------------------

def test_0_sigterm_to_the_whole_process_group_checkpoints_and_exits_0(data, tiny_config, tmp_path):
    out = tmp_path / "run"
    command = [sys.executable, "-m", "layergan", "train", "--method", "layergan-reduced", "--config", str(tiny_config),
               "--data", str(data), "--out", str(out), "--steps", "100000", "--workers", "2", "--quiet"]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               start_new_session=True)  # its own process group, as under Slurm or `timeout`
    deadline = time.time() + 180
    while not ((out / "metrics.jsonl").exists() and (out / "metrics.jsonl").read_text().count("\n") >= 2):
        assert process.poll() is None and time.time() < deadline, process.communicate()
        time.sleep(0.2)
    os.killpg(process.pid, signal.SIGTERM)  # main process and DataLoader workers alike
    stdout, stderr = process.communicate(timeout=180)
    assert process.returncode == 0, stderr[-3000:]
    assert "interrupted" in stdout and "Traceback" not in stderr
    folder, state = ckpt.resolve(out)
    assert state["step"] >= 2


# 1 -----------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("where", ["same", "inside", "contains", "symlink"])
def test_1_translate_never_writes_into_its_input(runs, synth_root, tmp_path, where):
    inputs = tmp_path / "inputs"
    shutil.copytree(synth_root / "test", inputs / "test")
    out = {"same": inputs, "inside": inputs / "test" / "synthetic", "contains": tmp_path,
           "symlink": tmp_path / "link"}[where]
    if where == "symlink":
        out.symlink_to(inputs)
    before = tree_digest(inputs)
    result = cli("translate", "--checkpoint", runs["style"], "--input", inputs, "--out", out, "--quiet")
    one_line_error(result, "--input", "choose a separate folder")
    assert tree_digest(inputs) == before


# 2 -----------------------------------------------------------------------------------------------------------

def two_sample_dataset(root, offset=0.0):
    cls, inst, thermal = two_object_scene()
    for name in ("a", "b"):
        write_voc_sample(root, "train", name, cls, inst, thermal + offset)
        write_voc_sample(root, "test", name, cls, inst, thermal + offset)
    return thermal


def prepare(src, out, *extra):
    return cli("prepare", "--src", src, "--out", out, "--quiet", *extra)


def test_2_rerunning_prepare_redoes_changed_samples(tmp_path):
    thermal = two_sample_dataset(tmp_path / "raw")
    out = tmp_path / "out"
    assert prepare(tmp_path / "raw", out).exit_code == 0
    signature = json.loads((out / "meta.json").read_text())["signature"]
    np.save(tmp_path / "raw/train/ThermalImages/a.npy", thermal + 7.0)  # the source changed
    result = prepare(tmp_path / "raw", out)
    assert result.exit_code == 0 and "a.safetensors.zst: its source files changed" in result.output
    np.testing.assert_allclose(read_sample_file(next(out.rglob("train/**/a.safetensors.zst")))["thermal"], thermal + 7.0)
    assert json.loads((out / "meta.json").read_text())["signature"] != signature


def test_2_signature_depends_on_content_and_another_src_needs_overwrite(tmp_path):
    two_sample_dataset(tmp_path / "one")
    two_sample_dataset(tmp_path / "two", offset=3.0)  # same names and sizes, other temperatures
    assert prepare(tmp_path / "one", tmp_path / "p1").exit_code == 0
    assert prepare(tmp_path / "two", tmp_path / "p2").exit_code == 0
    signature = lambda p: json.loads((p / "meta.json").read_text())["signature"]  # noqa: E731
    assert signature(tmp_path / "p1") != signature(tmp_path / "p2")
    (tmp_path / "p1" / "my-notes.txt").write_text("mine")
    one_line_error(prepare(tmp_path / "two", tmp_path / "p1"), "prepared from", "--overwrite")
    assert prepare(tmp_path / "two", tmp_path / "p1", "--overwrite").exit_code == 0
    assert signature(tmp_path / "p1") == signature(tmp_path / "p2")
    assert (tmp_path / "p1" / "my-notes.txt").read_text() == "mine"  # only prepare's own files were replaced


def test_2_a_clean_rerun_removes_a_stale_skipped_list(tmp_path):
    thermal = two_sample_dataset(tmp_path / "raw")
    np.save(tmp_path / "raw/train/ThermalImages/b.npy", np.full_like(thermal, np.nan))
    out = tmp_path / "out"
    assert prepare(tmp_path / "raw", out, "--on-error", "skip").exit_code == 0
    assert (out / "skipped.csv").exists()
    np.save(tmp_path / "raw/train/ThermalImages/b.npy", thermal)
    assert prepare(tmp_path / "raw", out).exit_code == 0
    assert not (out / "skipped.csv").exists()
    assert json.loads((out / "meta.json").read_text())["skipped"] == 0


# 3 -----------------------------------------------------------------------------------------------------------

def test_3_written_files_follow_the_umask(tmp_path):
    two_sample_dataset(tmp_path / "raw")
    previous = os.umask(0o022)
    try:
        assert prepare(tmp_path / "raw", tmp_path / "out").exit_code == 0
        io.write_text(tmp_path / "x.txt", "x")
    finally:
        os.umask(previous)
    files = [tmp_path / "x.txt", tmp_path / "out/meta.json", *(tmp_path / "out").rglob("*.safetensors.zst")]
    assert {stat.S_IMODE(p.stat().st_mode) for p in files} == {0o644}


# 4 -----------------------------------------------------------------------------------------------------------

def test_4_a_corrupt_prepared_file_is_named_and_prepare_redoes_it(tmp_path, tiny_config):
    two_sample_dataset(tmp_path / "raw")
    out = tmp_path / "out"
    assert prepare(tmp_path / "raw", out).exit_code == 0
    sample = next(out.rglob("train/**/a.safetensors.zst"))
    sample.write_bytes(sample.read_bytes()[:200])  # truncated: a BadZipFile
    result = train(tiny_config, out, tmp_path / "run", "layergan-reduced", "--steps", 1)
    one_line_error(result, str(sample), "prepare")
    result = prepare(tmp_path / "raw", out)
    assert result.exit_code == 0, result.output
    assert f"{sample}: unreadable" in result.output
    assert train(tiny_config, out, tmp_path / "run", "layergan-reduced", "--steps", 1).exit_code == 0


# 5 -----------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("value, message", [("1e9", "outside the plausible"), ("-400", "below absolute zero")])
def test_5_translate_refuses_impossible_temperatures(runs, synth_root, tmp_path, value, message):
    result = cli("translate", "--checkpoint", runs["style"], "--input", synth_root, "--out", tmp_path / "o",
                 "--temperatures", f"car={value}", "--quiet")
    one_line_error(result, message)
    assert not (tmp_path / "o").exists()


def test_5_prepare_refuses_impossible_frames_and_warns_about_integer_ones(tmp_path):
    thermal = two_sample_dataset(tmp_path / "raw")
    frame = tmp_path / "raw/train/ThermalImages/a.npy"
    np.save(frame, thermal - 500.0)
    one_line_error(prepare(tmp_path / "raw", tmp_path / "o1"), str(frame), "below absolute zero")
    np.save(frame, thermal * 1e7)
    one_line_error(prepare(tmp_path / "raw", tmp_path / "o2"), str(frame), "--allow-extreme-temperatures")
    assert prepare(tmp_path / "raw", tmp_path / "o3", "--allow-extreme-temperatures").exit_code == 0
    np.save(frame, np.round(thermal).astype(np.int16))
    result = prepare(tmp_path / "raw", tmp_path / "o4")
    assert result.exit_code == 0 and "integer arrays" in result.output and "int16" in result.output


# 6 -----------------------------------------------------------------------------------------------------------

def test_6_translate_refuses_temperatures_for_a_method_that_takes_none(runs, synth_root, tmp_path):
    result = cli("translate", "--checkpoint", runs["pix2pix"], "--input", synth_root, "--out", tmp_path / "o",
                 "--temperatures", "car=1000", "--quiet")
    one_line_error(result, "pix2pix checkpoint takes no temperatures")
    result = cli("translate", "--checkpoint", runs["pix2pix"], "--input", synth_root, "--out", tmp_path / "o",
                 "--quiet")
    assert result.exit_code == 0, result.output


# 7 -----------------------------------------------------------------------------------------------------------

def test_7_evaluate_and_translate_say_which_checkpoint_they_skip_and_use(runs, data, synth_root, tmp_path):
    broken = tmp_path / "run"
    shutil.copytree(runs["style"], broken)
    (broken / "ckpt-00000002/G_ema.safetensors").write_bytes(b"garbage")
    result = cli("evaluate", "--runs", broken, "--data", data, "--out", tmp_path / "report", "--no-fid", "--quiet")
    assert result.exit_code == 0, result.output
    assert "skipping checkpoint" in result.output and "ckpt-00000002" in result.output
    assert f"using {broken / 'ckpt-00000001'}" in result.output
    result = cli("translate", "--checkpoint", broken, "--input", synth_root, "--out", tmp_path / "t", "--quiet")
    assert result.exit_code == 0 and f"using {broken / 'ckpt-00000001'}" in result.output


# 8 -----------------------------------------------------------------------------------------------------------

def test_8_train_stops_when_every_checkpoint_is_corrupt_unless_asked_to_restart(runs, data, tiny_config, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(runs["style"], run)
    for folder in ckpt.list_checkpoints(run):
        (folder / "G.safetensors").write_bytes(b"garbage")
    before = tree_digest(run)
    one_line_error(train(tiny_config, data, run, "layergan-reduced", "--steps", 3), "none of its 2 checkpoints",
                   "--restart")
    assert tree_digest(run) == before
    result = train(tiny_config, data, run, "layergan-reduced", "--steps", 1, "--restart")
    assert result.exit_code == 0, result.output
    assert [f.name for f in ckpt.list_checkpoints(run)] == ["ckpt-00000001"]


# 9 -----------------------------------------------------------------------------------------------------------

def test_9_an_out_below_a_file_is_one_line_naming_it(runs, data, synth_root, tiny_config, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    one_line_error(prepare(synth_root, blocker / "out"), str(blocker))
    one_line_error(train(tiny_config, data, blocker / "run", "layergan-reduced", "--steps", 1), str(blocker))
    one_line_error(cli("translate", "--checkpoint", runs["style"], "--input", synth_root, "--out", blocker / "t",
                       "--quiet"), str(blocker))


def test_9_a_full_disk_names_the_file_and_leaves_no_temporary(tmp_path, monkeypatch):
    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "replace", full)
    with pytest.raises(OutputError, match=r"x\.json: cannot write \(No space left on device\)"):
        io.write_json(tmp_path / "x.json", {"a": 1})
    with pytest.raises(OutputError, match=r"ckpt-00000003: cannot write the checkpoint \(No space left"):
        ckpt.save_checkpoint(tmp_path, 3, {"G.safetensors": {"w": torch.zeros(2)}}, {}, {}, {}, keep=3)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("args, fragments", [
    (["train", "--method", "pix2pix", "--workers", "-1", "--data", "x", "--out", "y"], ["workers must be >= 0"]),
    (["train", "--method", "pix2pix", "--lr", "-1", "--dry-run"], ["--lr", "positive"]),
    (["train", "--method", "pix2pix", "--lr", "nan", "--dry-run"], ["--lr", "positive"]),
    (["evaluate", "--runs", ".", "--data", ".", "--out", "x", "--batch", "0"], ["--batch", "0"]),
])
def test_9_bad_options_are_one_line(args, fragments):
    one_line_error(cli(*args), *fragments)


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message of a CPU-only machine")
def test_9_translate_on_cuda_without_cuda_is_one_line(runs, synth_root, tmp_path):
    one_line_error(cli("translate", "--checkpoint", runs["style"], "--input", synth_root, "--out", tmp_path / "o",
                       "--device", "cuda"), "--device cuda", "--device cpu")


class _Exploit:
    def __reduce__(self):
        return (os.system, ("echo pwned > /tmp/layergan_fid_pwned",))


@pytest.mark.parametrize("kind, message", [
    ("garbage", "not a readable tensor file"),
    ("empty", "not a readable tensor file"),
    ("wrong", "not pytorch-fid's Inception weights"),
    ("malicious", "could run code"),
])
def test_9_bad_fid_weights_are_one_line_naming_the_file(runs, data, tmp_path, kind, message):
    weights = tmp_path / "weights.pth"
    if kind == "garbage":
        # seeded: about 1 in 100 random files starts with a pickle PROTO byte and is refused as pickled instead
        weights.write_bytes(b"\x00" + np.random.default_rng(0).bytes(20000))
    elif kind == "empty":
        weights.write_bytes(b"")
    elif kind == "wrong":
        torch.save({"fc.weight": torch.zeros(3, 3)}, weights)
    else:
        weights.write_bytes(pickle.dumps({"x": _Exploit()}))
    result = cli("evaluate", "--runs", runs["style"], "--data", data, "--out", tmp_path / "r", "--fid-weights",
                 weights, "--quiet")
    one_line_error(result, str(weights), message)
    assert "Aborted" not in result.output and not Path("/tmp/layergan_fid_pwned").exists()


# 10 ----------------------------------------------------------------------------------------------------------

def test_10_temporary_checkpoint_folders_of_dead_processes_are_removed(runs, data, tiny_config, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(runs["style"], run)
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    orphan = run / f".ckpt-00000003.tmp-{dead.pid}"
    orphan.mkdir()
    (orphan / "G.safetensors").write_bytes(b"x" * 1000)
    result = train(tiny_config, data, run, "layergan-reduced", "--steps", 3)
    assert result.exit_code == 0, result.output
    assert not orphan.exists() and not list(run.glob(".ckpt-*"))


# 11 ----------------------------------------------------------------------------------------------------------

def test_11_a_second_train_into_the_same_run_is_refused_naming_the_holder(data, tiny_config, tmp_path):
    lock = io.FolderLock(tmp_path / "run", "test").acquire()
    try:
        one_line_error(train(tiny_config, data, tmp_path / "run", "layergan-reduced", "--steps", 1),
                       f"in use by process {os.getpid()}")
    finally:
        lock.release()
    assert not ckpt.list_checkpoints(tmp_path / "run")
    assert train(tiny_config, data, tmp_path / "run", "layergan-reduced", "--steps", 1).exit_code == 0


# 12 ----------------------------------------------------------------------------------------------------------

def test_12_resuming_from_an_older_checkpoint_trims_the_metrics_log(data, tmp_path):
    config = tmp_path / "every2.yaml"
    config.write_text(yaml.safe_dump({**TINY_RUN, "checkpoint_every": 2}))
    run = tmp_path / "run"
    assert train(config, data, run, "layergan-reduced", "--steps", 4).exit_code == 0
    shutil.rmtree(run / "ckpt-00000004")  # lost: the resume goes back to step 2
    assert train(config, data, run, "layergan-reduced", "--steps", 4).exit_code == 0
    steps = [json.loads(line)["step"] for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert steps == [1, 2, 3, 4]


def test_12_an_edited_state_json_is_refused(runs, data, tiny_config, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(runs["style"], run)
    path = run / "ckpt-00000002/state.json"
    path.write_text(path.read_text().replace('"step": 2,', '"step": 2000,'))
    result = train(tiny_config, data, run, "layergan-reduced", "--steps", 3)
    assert result.exit_code == 0, result.output
    assert "state.json: corrupt or edited" in result.output
    assert f"resumed from {run / 'ckpt-00000001'} at step 1" in result.output


def resign(folder: Path, name: str) -> None:
    """Record a replaced file's checksum, as if the checkpoint had been written with it."""
    state = json.loads((folder / "state.json").read_text())
    state["files"][name] = hashlib.sha256((folder / name).read_bytes()).hexdigest()
    text = json.dumps(state, indent=2)
    (folder / "state.json").write_text(text)
    (folder / "state.sha256").write_text(hashlib.sha256(text.encode()).hexdigest())


def test_12_no_test_split_means_no_held_out_mae(tmp_path, tiny_config):
    cls, inst, thermal = two_object_scene()
    for name in ("a", "b"):
        write_voc_sample(tmp_path / "raw", "train", name, cls, inst, thermal)
    assert prepare(tmp_path / "raw", tmp_path / "data").exit_code == 0  # only the splits that exist
    one_line_error(prepare(tmp_path / "raw", tmp_path / "data", "--split", "train,test"), "test")
    result = train(tiny_config, tmp_path / "data", tmp_path / "run", "layergan-reduced", "--steps", 1)
    assert result.exit_code == 0 and "no test split" in result.output
    assert "held-out MAE " not in result.output.replace("no held-out MAE is computed", "")
    assert not any("held_out" in k for k in ckpt.resolve(tmp_path / "run")[1]["metrics"])


def test_12_a_fractional_batch_in_yaml_is_refused(tmp_path):
    path = tmp_path / "run.yaml"
    path.write_text("batch: 2.5\n")
    one_line_error(cli("train", "--method", "pix2pix", "--config", path, "--dry-run"), "batch must be a whole number")


def test_12_the_pickle_refusal_says_it_could_run_code(runs, data, tiny_config, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(runs["style"], run)
    for folder in ckpt.list_checkpoints(run):  # checksums that match: only the unpickler stands in the way
        (folder / "optim.pt").write_bytes(pickle.dumps({"G": _Exploit()}, protocol=2))
        resign(folder, "optim.pt")
    result = train(tiny_config, data, run, "layergan-reduced", "--steps", 3)
    one_line_error(result, "optim.pt: refused to load", "posix.system", "could run code", "trust its source")
    assert not Path("/tmp/layergan_fid_pwned").exists()


def test_12_temperature_syntax_and_duplicate_colours_are_named(runs, synth_root, tmp_path):
    one_line_error(cli("translate", "--checkpoint", runs["style"], "--input", synth_root, "--out", tmp_path / "o",
                       "--temperatures", "car:25"), "'car:25' is not CLASS=°C")
    classes = tmp_path / "classes.yaml"
    classes.write_text("classes:\n  - {name: a, color: [1, 2, 3]}\n  - {name: b, color: [1, 2, 3]}\n")
    one_line_error(prepare(synth_root, tmp_path / "p", "--classes", classes), str(classes), "a and b share")


def test_12_synth_data_overwrite_keeps_the_users_files(tmp_path):
    base = ["synth-data", "--out", tmp_path, "--train", 1, "--test", 1, "--size", "64x48", "--quiet"]
    assert cli(*base).exit_code == 0
    mine = tmp_path / "train/JPEGImages/my_photo.jpg"
    mine.write_bytes(b"mine")
    assert cli(*base, "--seed", 5, "--overwrite").exit_code == 0
    assert mine.read_bytes() == b"mine"
    assert json.loads((tmp_path / "synth.json").read_text())["seed"] == 5


def test_12_translate_accepts_one_split_folder(runs, synth_root, tmp_path):
    result = cli("translate", "--checkpoint", runs["style"], "--input", synth_root / "test", "--out", tmp_path / "o",
                 "--quiet")
    assert result.exit_code == 0, result.output
    assert len(list((tmp_path / "o/test/ThermalImages").glob("*.npy"))) == 4
