import os

import numpy as np
import pytest
import torch

os.environ.setdefault("MPLBACKEND", "Agg")
torch.set_num_threads(2)


@pytest.fixture(scope="session")
def synth_root(tmp_path_factory):
    """A tiny embedded dataset shared by the data, training and evaluation tests."""
    from layergan.data.synth_writer import SynthSettings, write_dataset

    out = tmp_path_factory.mktemp("synth") / "raw"
    write_dataset(out, SynthSettings(train=12, test=4, width=96, height=72, seed=3), workers=1, progress=False)
    return out


@pytest.fixture
def rng():
    return np.random.default_rng(0)
