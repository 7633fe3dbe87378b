"""Distributed training: real DDP on the CPU (2 processes over gloo) through the command line, the
sweep guard, and the cluster configs (SLURM, submitit, FSDP) as far as they can be checked offline."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from lightning.fabric.utilities.distributed import DistributedSamplerWrapper

from dlzoo.checkpoint import read_checkpoint
from dlzoo.config import compose, to_plain
from dlzoo.data.base import EpochShuffleSampler
from dlzoo.errors import DlzooError
from dlzoo.eval import evaluate
from dlzoo.tasks.base import build
from dlzoo.train import refuse_relaunch_in_sweep

REPO = Path(__file__).resolve().parent.parent
# moons: 270 training examples (135 a rank), 30 validation; 101 test examples, so a padded
# DistributedSampler would count one of them twice. Full-batch gradient descent: each rank's batch is
# its whole shard, so averaging the ranks' gradients gives exactly the full batch's gradient.
DATA = ["data=moons", "data.n_test=101", "data.batch_size=full"]
TRAIN = ["model=mlp", "trainer.max_epochs=3", "model.optimizer._target_=torch.optim.SGD", "model.optimizer.lr=0.5"]
DDP = ["trainer=ddp", "trainer.accelerator=cpu", "trainer.devices=2"]


def cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "HYDRA_FULL_ERROR": "0", "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
    return subprocess.run([sys.executable, "-m", "dlzoo.train", *args], check=False, capture_output=True, text=True, cwd=cwd, env=env, timeout=240)


@pytest.fixture(scope="module")
def ddp_run(tmp_path_factory):
    """One 2-process DDP run of the MLP on moons, with tests/ddp_probe.py recording each rank."""
    tmp = tmp_path_factory.mktemp("ddp")
    run, probe = tmp / "run", tmp / "probe"
    result = cli(
        *DATA, *TRAIN, *DDP, "trainer.enable_model_summary=false", f"hydra.run.dir={run}",
        "+callbacks.probe._target_=tests.ddp_probe.DDPProbe", f"+callbacks.probe.dirpath={probe}",
        f"+callbacks.probe.watch={run}", cwd=tmp,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    ranks = [torch.load(probe / f"rank{r}.pt", weights_only=True) for r in range(2)]
    writes = [json.loads((probe / f"writes{r}.json").read_text()) for r in range(2)]
    return run, ranks, writes


def test_each_rank_trains_on_its_own_shard_of_every_epoch(ddp_run):
    _, ranks, _ = ddp_run
    assert [(r["rank"], r["world_size"], r["backend"]) for r in ranks] == [(0, 2, "gloo"), (1, 2, "gloo")]
    data = build(to_plain(compose([*DATA, "paths.output_dir=unused"]).data))
    data.setup()
    train = data.splits.train
    rows = [train[i][0].tolist() for i in range(len(train))]
    for epoch in range(3):
        seen = [r["rows"][epoch] for r in ranks]
        assert len(seen[0]) == len(seen[1]) == len(train) // 2
        shards = [{tuple(x) for x in rank_rows} for rank_rows in seen]
        assert not shards[0] & shards[1]  # disjoint shards
        assert shards[0] | shards[1] == {tuple(x) for x in rows}  # that cover the epoch
        # Lightning wraps the data module's EpochShuffleSampler in its DistributedSamplerWrapper (it
        # replaces only default samplers by DistributedSampler): rank r takes positions r, r+2, ... of
        # the epoch's order, reshuffled with seed + epoch, so the shards follow from (seed, epoch) alone
        for rank in range(2):
            sampler = DistributedSamplerWrapper(EpochShuffleSampler(len(train), seed=42), num_replicas=2, rank=rank, shuffle=True, seed=42)
            sampler.set_epoch(epoch)
            assert seen[rank] == [rows[i] for i in sampler]
    assert ranks[0]["rows"][0] != ranks[0]["rows"][1]  # a new shard every epoch


def test_gradients_are_averaged_across_ranks(ddp_run, run):
    path, ranks, _ = ddp_run
    final = [r["final"] for r in ranks]
    for name, weight in final[0].items():
        assert torch.equal(weight, final[1][name]), name  # the same weights on both ranks
        assert not torch.equal(weight, ranks[0]["initial"][name]), name  # and they trained
    saved = read_checkpoint(path / "checkpoints" / "last.ckpt")["state_dict"]
    assert all(torch.equal(saved[name], w) for name, w in final[0].items())
    # DDP averages the ranks' gradients: the mean of two equal shards' mean gradients is the full
    # batch's, so one process running full-batch gradient descent takes the same steps
    _, single = run(*DATA, *TRAIN)
    reference = read_checkpoint(single / "checkpoints" / "last.ckpt")["state_dict"]
    for name, weight in final[0].items():
        torch.testing.assert_close(weight, reference[name], rtol=1e-5, atol=1e-6)


def test_only_rank_0_writes_the_run_folder(ddp_run):
    path, _, writes = ddp_run
    assert writes[1] == []  # rank 1 opened no file for writing in the run folder
    assert writes[0].count("config.yaml") == writes[0].count("metrics.json") == 1
    assert any(w.startswith("checkpoints/.last.ckpt.") for w in writes[0])  # checkpoints too
    files = sorted(str(p.relative_to(path)) for p in path.rglob("*") if p.is_file())
    assert not [f for f in files if f.endswith(".tmp")]  # every checkpoint write completed
    checkpoints = [f for f in files if f.startswith("checkpoints/")]
    assert len(checkpoints) == 2 and "checkpoints/last.ckpt" in checkpoints  # last and best
    assert files.count("metrics.json") == files.count("config.yaml") == 1
    # Hydra's log of rank 1's process is the one file of its own: its name says whose it is
    assert [f for f in files if f.endswith(".log")] == ["train.log", "train_ddp_process_1.log"]


def test_ddp_test_metrics_equal_a_single_process_evaluation(ddp_run, tmp_path):
    path, _, _ = ddp_run
    metrics = json.loads((path / "metrics.json").read_text())
    best = next((path / "checkpoints").glob("epoch_*.ckpt"))
    single = evaluate(compose([f"ckpt_path={best}", f"paths.output_dir={tmp_path}"], config_name="eval"))
    for split in ("train", "val", "test"):
        assert metrics[f"{split}/acc"] == single[f"{split}/acc"], split  # every example counted once
        assert metrics[f"{split}/loss"] == pytest.approx(single[f"{split}/loss"], rel=1e-6), split
    assert metrics["epochs"] == 3.0


def test_multirun_sweep_with_ddp_is_refused_in_one_message(tmp_path):
    result = cli(
        "-m", *DATA, "model=mlp", *DDP, "model.optimizer.lr=1e-3,1e-2", "logger=none",
        f"hydra.sweep.dir={tmp_path}/sweep", cwd=tmp_path,
    )
    assert result.returncode == 2
    assert "dlzoo-train: error: a multirun sweep (-m) cannot start 2 DDP processes per run" in result.stderr
    assert "hydra/launcher=slurm" in result.stderr and "Traceback" not in result.stderr
    assert not list(tmp_path.rglob("metrics.json")) and not list(tmp_path.rglob("checkpoints"))
    assert "Initializing distributed" not in result.stderr  # refused before any process started


SLURM_TASK = {  # task 3 of `srun` on 2 nodes x 2 tasks: the second task of the second node
    "SLURM_NTASKS": "4", "SLURM_NTASKS_PER_NODE": "2", "SLURM_NNODES": "2", "SLURM_PROCID": "3",
    "SLURM_LOCALID": "1", "SLURM_NODEID": "1", "SLURM_JOB_NAME": "dlzoo", "SLURM_JOB_ID": "123",
    "SLURM_NODELIST": "gpu[07-08]",
}


def test_trainer_slurm_takes_the_world_from_the_allocation(monkeypatch):
    from lightning.pytorch.plugins.environments import SLURMEnvironment

    for name in ("RANK", "LOCAL_RANK", "WORLD_SIZE", "GROUP_RANK", "LOCAL_WORLD_SIZE", "NODE_RANK"):
        monkeypatch.delenv(name, raising=False)
    for name, value in SLURM_TASK.items():
        monkeypatch.setenv(name, value)
    cfg = compose(["trainer=slurm", "trainer.accelerator=cpu", "paths.output_dir=unused", "hydra.mode=MULTIRUN"])
    assert (cfg.trainer.devices, cfg.trainer.num_nodes) == (2, 2)
    trainer = build(to_plain(cfg.trainer), logger=False)
    env = trainer.strategy.cluster_environment
    assert isinstance(env, SLURMEnvironment)
    assert (trainer.global_rank, trainer.local_rank, trainer.node_rank, trainer.world_size) == (3, 1, 1, 4)
    assert env.main_address == "gpu07"
    assert env.creates_processes_externally  # srun started the processes: Lightning starts none
    refuse_relaunch_in_sweep(trainer)  # so a sweep (submitit on SLURM) may use DDP


def test_local_ddp_refusal_depends_on_the_relaunch():
    cfg = compose([*DDP, "paths.output_dir=unused", "hydra.mode=MULTIRUN"])
    with pytest.raises(DlzooError, match="re-running the command line"):
        refuse_relaunch_in_sweep(build(to_plain(cfg.trainer), logger=False))
    cfg = compose([*DDP, "paths.output_dir=unused", "hydra.mode=RUN"])
    refuse_relaunch_in_sweep(build(to_plain(cfg.trainer), logger=False))  # a single run may


def test_submitit_launcher_preset_is_sized_from_the_trainer():
    pytest.importorskip("hydra_plugins.hydra_submitit_launcher", reason="needs the cluster extra")
    from hydra.utils import instantiate
    from hydra_plugins.hydra_submitit_launcher.submitit_launcher import SlurmLauncher

    cfg = compose(["hydra/launcher=slurm", "trainer=ddp", "trainer.devices=8", "trainer.num_nodes=2", "paths.output_dir=unused"])
    launcher = cfg.hydra.launcher
    assert (launcher.nodes, launcher.tasks_per_node, launcher.gpus_per_node) == (2, 8, 8)
    assert launcher.timeout_min == 240
    assert isinstance(instantiate(launcher), SlurmLauncher)


def test_trainer_fsdp_composes_to_lightnings_fsdp_strategy():
    from lightning.pytorch.strategies import FSDPStrategy

    cfg = compose(["trainer=fsdp", "trainer.devices=4", "paths.output_dir=unused"])
    assert (cfg.trainer.accelerator, cfg.trainer.devices, cfg.trainer.num_nodes) == ("gpu", 4, 1)
    strategy = build(to_plain(cfg.trainer.strategy))  # FSDP needs GPUs to run, not to be built
    assert isinstance(strategy, FSDPStrategy)
    assert strategy.sharding_strategy.name == "FULL_SHARD"
