"""Every collective the trainer makes uses tensors on the rank's device (NCCL refuses CPU tensors).

A CPU machine cannot run NCCL, so the collectives are recorded instead of run, on a rank whose
device is `meta`: a tensor created on the CPU by mistake is caught exactly as NCCL would catch it.
"""

import ast
from pathlib import Path

import pytest
import torch

from layergan.training import distributed
from layergan.training.distributed import DistInfo

RANK = DistInfo(rank=1, world_size=2, local_rank=1, device=torch.device("meta"))


@pytest.fixture
def recorded(monkeypatch):
    calls = []

    def record(name):
        def collective(*args, **kwargs):
            tensors = [a for a in args if isinstance(a, torch.Tensor)]
            calls.append((name, [t.device.type for t in tensors]))
        return collective

    for name in ("all_reduce", "broadcast", "barrier", "all_gather", "reduce", "gather", "scatter"):
        monkeypatch.setattr(distributed.dist, name, record(name))
    return calls


def test_every_collective_uses_the_rank_device(recorded):
    module = torch.nn.Linear(3, 2, device="meta")
    distributed.broadcast_module(module, RANK)
    for p in module.parameters():
        p.grad = torch.ones_like(p)
    distributed.average_gradients(list(module.parameters()), RANK)
    monkeypatch_item = torch.Tensor.item
    try:
        torch.Tensor.item = lambda self: 0.0  # a meta tensor has no value; the collective is what matters
        assert distributed.any_rank(False, RANK) is False
    finally:
        torch.Tensor.item = monkeypatch_item
    distributed.barrier(RANK)
    names = [name for name, _ in recorded]
    assert names.count("broadcast") == 2 and "all_reduce" in names and "barrier" in names
    devices = {d for _, ds in recorded for d in ds}
    assert devices == {"meta"}, recorded


def test_the_trainer_makes_collectives_only_through_the_helpers():
    source = Path(distributed.__file__).with_name("trainer.py").read_text()
    used = {node.attr for node in ast.walk(ast.parse(source)) if isinstance(node, ast.Attribute)
            and isinstance(node.value, ast.Attribute) and node.value.attr == "distributed"}
    assert not used, f"trainer.py calls torch.distributed.{used} directly"
    assert "import torch.distributed" not in source
