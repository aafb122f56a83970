"""Issue #15 item 5: train on synthetic, test on real."""

import json

import pytest
import torch

from layergan.evaluation.utility import IGNORE, UtilityScore
from tests.test_reliability import cli, data, tiny_config, train  # noqa: F401

STEPS = 40


def scenes(count, seed, size=32, classes=3):
    """Rectangles of classes 1..2 on class 0, each class at its own temperature, with texture; a padded band."""
    generator = torch.Generator().manual_seed(seed)
    labels = torch.zeros(count, size, size, dtype=torch.long)
    for n in range(count):
        for cls in range(1, classes):
            y, x = torch.randint(0, size - 10, (2,), generator=generator).tolist()
            labels[n, y:y + 10, x:x + 10] = cls
    frames = (10.0 + 8.0 * labels.float() + torch.randn(count, size, size, generator=generator))[:, None]
    labels[:, -4:, :] = IGNORE  # padding
    frames[:, :, -4:, :] = 0
    return frames, labels


@pytest.fixture(scope="module")
def score():
    train, train_labels = scenes(16, 0)
    test, test_labels = scenes(8, 1)
    return UtilityScore(train, train_labels, test, test_labels, 3, steps=STEPS)


def test_frames_identical_to_the_real_ones_have_utility_one(score):
    train = score.real_train
    assert score.real_miou > 0.8  # the segmenter learns the easy task
    result = score.score(train.clone())
    assert result["utility_ratio"] == 1.0 and result["miou_synthetic"] == score.real_miou


def test_frames_of_other_scenes_are_scored_with_their_own_labels(score):
    other, other_labels = scenes(16, 2)
    assert score.score_frames(score.real_train, score.train_labels) == score.real_miou  # same data, same seed
    assert score.score_frames(other, other_labels) > 0.8  # other layouts, labelled right, teach the task too
    assert score.score_frames(other, torch.roll(other_labels, 8, dims=1)) < 0.6  # labels that do not fit
    assert score.score_added(other, other_labels) > 0.8


def test_frames_without_the_class_signal_teach_less(score):
    smooth = torch.full_like(score.real_train, 18.0)  # right mean, no structure at all
    result = score.score(smooth)
    assert result["utility_ratio"] < 0.6
    assert result["miou_real_plus_synthetic"] > result["miou_synthetic"]


def test_evaluate_reports_the_utility_of_each_run(data, tiny_config, tmp_path):  # noqa: F811
    run = tmp_path / "run"
    assert train(tiny_config, data, run, "layergan-reduced", "--steps", 1).exit_code == 0
    report = tmp_path / "report"
    result = cli("evaluate", "--runs", run, "--data", data, "--out", report, "--no-fid", "--utility",
                 "--utility-steps", 5, "--quiet")
    assert result.exit_code == 0, result.output
    (scores,) = json.loads((report / "metrics.json").read_text())["runs"].values()
    assert 0 <= scores["miou_synthetic"] <= 1 and 0 < scores["miou_real"] <= 1
    assert scores["utility_ratio"] == scores["miou_synthetic"] / scores["miou_real"]
    assert "utility (syn/real mIoU)" in (report / "report.md").read_text()


def test_segmenter_training_shows_a_labelled_bar_only_when_asked(capsys):
    from layergan.evaluation.utility import normalisation, train_segmenter

    frames, labels = scenes(4, 0)
    norm = normalisation(frames, labels)
    train_segmenter(frames, labels, 3, norm, steps=3, progress="segmenter on real")
    assert "segmenter on real" in capsys.readouterr().err
    train_segmenter(frames, labels, 3, norm, steps=3)
    assert capsys.readouterr().err == ""
