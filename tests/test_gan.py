"""GAN trainer: steps on tiny graphs (no Qt), losses, n_critic, conditional path, samples, resume, diagnostics."""

from __future__ import annotations

import io
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from engine.data import DataBundle
from engine.project import Project, ProjectError
from engine.train import make_trainer
from engine.train.gan import GanMonitor, GanTrainer, PcaFrechet, frechet_distance
from engine.train.trainer import StepContext, TrainContext

SIDE = 8
LAT = 6


def chain(*specs):
    nodes = [{"id": i, "type": t, "params": p} for i, t, p in specs]
    edges = [[a["id"], b["id"]] for a, b in zip(nodes, nodes[1:])]
    return nodes, edges


def tiny_gan_doc(conditional: bool = False, **gan) -> dict:
    if conditional:
        g_nodes, g_edges = chain(
            ("join", "Concat", {"dim": 0}), ("fc", "Linear", {"out_features": SIDE * SIDE}),
            ("shape", "Reshape", {"shape": [1, SIDE, SIDE]}), ("tanh", "Tanh", {}), ("out", "Output", {}),
        )
        g_nodes = [
            {"id": "noise", "type": "Input", "params": {"shape": [LAT]}},
            {"id": "label", "type": "Input", "params": {"shape": [], "dtype": "long"}},
            {"id": "emb", "type": "Embedding", "params": {"num_embeddings": 10, "embedding_dim": 3}},
            *g_nodes,
        ]
        g_edges = [["noise", "join"], ["label", "emb"], ["emb", "join"], *g_edges]
        d_nodes, d_edges = chain(
            ("join", "Concat", {"dim": 0}), ("flat", "Flatten", {}), ("fc", "Linear", {"out_features": 8}),
            ("act", "LeakyReLU", {"negative_slope": 0.2}), ("logit", "Linear", {"out_features": 1}), ("out", "Output", {}),
        )
        d_nodes = [
            {"id": "label", "type": "Input", "params": {"shape": [], "dtype": "long"}},
            {"id": "image", "type": "Input", "params": {"shape": [1, SIDE, SIDE]}},
            {"id": "emb", "type": "Embedding", "params": {"num_embeddings": 10, "embedding_dim": SIDE * SIDE}},
            {"id": "emb_map", "type": "Reshape", "params": {"shape": [1, SIDE, SIDE]}},
            *d_nodes,
        ]
        d_edges = [["label", "emb"], ["emb", "emb_map"], ["image", "join"], ["emb_map", "join"], *d_edges]
    else:
        g_nodes, g_edges = chain(
            ("noise", "Input", {"shape": [LAT]}), ("fc", "Linear", {"out_features": 16}), ("bn", "BatchNorm1d", {}),
            ("relu", "ReLU", {}), ("fc2", "Linear", {"out_features": SIDE * SIDE}),
            ("shape", "Reshape", {"shape": [1, SIDE, SIDE]}), ("tanh", "Tanh", {}), ("out", "Output", {}),
        )
        d_nodes, d_edges = chain(
            ("image", "Input", {"shape": [1, SIDE, SIDE]}),
            ("conv", "Conv2d", {"out_channels": 4, "kernel_size": 3, "stride": 2, "padding": 1}),
            ("act", "LeakyReLU", {"negative_slope": 0.2}), ("flat", "Flatten", {}),
            ("logit", "Linear", {"out_features": 1}), ("out", "Output", {}),
        )
    gan_spec = {"latent_dim": LAT, "grid": 3, "samples_per_epoch": 2, "timeline_max": 5, "conditional": conditional}
    gan_spec.update(gan)
    return {
        "format": "layerlab-project", "version": 1, "name": "tiny gan",
        "data": {"batch_size": 8},
        "models": {"generator": {"nodes": g_nodes, "edges": g_edges},
                   "discriminator": {"nodes": d_nodes, "edges": d_edges}},
        "train": {"task": "gan", "epochs": 1, "seed": 0, "gan": gan_spec},
    }


def tiny_data(n: int = 48, side: int = SIDE) -> DataBundle:
    g = torch.Generator().manual_seed(0)
    x = torch.rand(n, 1, side, side, generator=g)
    y = torch.arange(n) % 10
    return DataBundle(x[: n - 16], y[: n - 16], x[n - 16 :], y[n - 16 :], tuple(str(i) for i in range(10)), (1, side, side))


def setup_trainer(doc: dict, run_dir: Path, data: DataBundle | None = None, seed: int = 0):
    project = Project.model_validate(doc)
    torch.manual_seed(seed)
    tr = make_trainer(project)
    tr.setup(TrainContext(project, torch.device("cpu"), data or tiny_data(), str(run_dir)))
    return tr


def run_steps(tr, data: DataBundle, k: int, start: int = 0, spe: int = 4):
    logs = None
    for i in range(start, start + k):
        idx = torch.arange(8) + (i % 4) * 8
        logs = tr.train_step((data.train_x[idx], data.train_y[idx]), StepContext(i // spe, i % spe + 1, i, spe))
    return logs


@pytest.mark.parametrize("loss", ["bce", "nonsaturating", "hinge"])
def test_losses_run_and_return_detached_scalar_tensors(tmp_path, loss):
    data = tiny_data()
    tr = setup_trainer(tiny_gan_doc(loss=loss, label_smoothing=0.1), tmp_path, data)
    assert isinstance(tr, GanTrainer) and tr.name == "gan"
    logs = run_steps(tr, data, 3)
    assert set(logs) == {"d_loss", "g_loss", "d_x", "d_gz"}
    for v in logs.values():
        assert isinstance(v, torch.Tensor) and v.dim() == 0 and not v.requires_grad and torch.isfinite(v)
    assert 0.0 <= float(logs["d_x"]) <= 1.0 and 0.0 <= float(logs["d_gz"]) <= 1.0
    m = tr.end_epoch(0)
    assert set(m) >= {"d_loss", "g_loss", "d_x", "d_gz", "fd_pca"}
    assert all(math.isfinite(v) for v in m.values())


def test_loss_formulas(tmp_path):
    tr = setup_trainer(tiny_gan_doc(loss="hinge"), tmp_path)
    r, f = torch.tensor([2.0, 0.0]), torch.tensor([-2.0, 0.5])
    assert float(tr._d_loss(r, f)) == pytest.approx((0 + 1) / 2 + (0 + 1.5) / 2)
    assert float(tr._g_loss(f)) == pytest.approx(0.75)
    tr.spec = tr.spec.model_copy(update={"loss": "nonsaturating", "label_smoothing": 0.0})
    assert float(tr._g_loss(torch.zeros(3))) == pytest.approx(math.log(2))
    assert float(tr._d_loss(torch.zeros(3), torch.zeros(3))) == pytest.approx(2 * math.log(2))
    tr.spec = tr.spec.model_copy(update={"loss": "bce"})
    assert float(tr._g_loss(torch.zeros(3))) == pytest.approx(-math.log(2))
    # one-sided smoothing raises the D loss for confident real logits
    tr.spec = tr.spec.model_copy(update={"label_smoothing": 0.2})
    assert float(tr._d_loss(torch.full((3,), 5.0), torch.full((3,), -5.0))) > 0.4


def test_n_critic_updates_generator_every_nth_step(tmp_path):
    data = tiny_data()
    tr = setup_trainer(tiny_gan_doc(n_critic=2), tmp_path, data)

    def snap(m):
        return [p.detach().clone() for p in m.parameters()]

    g0, d0 = snap(tr.G), snap(tr.D)
    run_steps(tr, data, 1)
    g1, d1 = snap(tr.G), snap(tr.D)
    assert all(torch.equal(a, b) for a, b in zip(g0, g1)), "G must not move on a critic-only step"
    assert not all(torch.equal(a, b) for a, b in zip(d0, d1))
    run_steps(tr, data, 1, start=1)
    assert not all(torch.equal(a, b) for a, b in zip(g1, snap(tr.G))), "G moves on every 2nd step"
    assert all(p.requires_grad for p in tr.D.parameters())


def test_dcgan_init(tmp_path):
    tr = setup_trainer(tiny_gan_doc(init_std=0.02), tmp_path)
    w = tr.G.fc.weight.detach()
    assert abs(float(w.std()) - 0.02) < 0.01 and float(tr.G.fc.bias.detach().abs().max()) == 0.0
    assert abs(float(tr.G.bn.weight.detach().mean()) - 1.0) < 0.05


def test_samples_grid_and_timeline(tmp_path):
    data = tiny_data()
    tr = setup_trainer(tiny_gan_doc(grid=3, timeline_max=3), tmp_path, data)
    run_steps(tr, data, 2)
    events = []
    for step in range(1, 6):
        events += tr.samples(0, step)
    s = events[-1]
    assert s.kind == "gan" and s.image.dtype == np.uint8
    assert s.image.shape == (3 * (SIDE + 2) + 2, 3 * (SIDE + 2) + 2)
    assert Path(s.path).is_file() and Path(s.path).parent == tmp_path / "samples"
    files = sorted(p.name for p in (tmp_path / "samples").glob("*.png"))
    assert len(files) <= 3 and "epoch_000_step_0005.png" in files
    assert (tmp_path / "samples" / "index.json").is_file()
    # the fixed noise gives the same grid when nothing was trained in between
    assert np.array_equal(tr.samples(0, 6)[0].image, s.image)


def test_wants_samples_spacing(tmp_path):
    tr = setup_trainer(tiny_gan_doc(samples_per_epoch=4), tmp_path)
    hits = [s for s in range(1, 71) if tr.wants_samples(StepContext(0, s, s - 1, 70))]
    assert len(hits) == 4 and 70 not in hits and hits == sorted(hits)
    tr.spec = tr.spec.model_copy(update={"samples_per_epoch": 0})
    assert not any(tr.wants_samples(StepContext(0, s, s - 1, 70)) for s in range(1, 71))


def test_conditional_gan(tmp_path):
    data = tiny_data()
    tr = setup_trainer(tiny_gan_doc(conditional=True, grid=2), tmp_path, data)
    assert tr.g_in.label_index == 1 and tr.d_in.label_index == 0  # matched by dtype, not position
    logs = run_steps(tr, data, 3)
    assert torch.isfinite(logs["d_loss"])
    assert tr.fixed_labels.tolist() == list(range(10)) * 2  # each row shows the digits 0..9
    s = tr.samples(0, 3)[0]
    assert s.image.shape == (2 * (SIDE + 2) + 2, 10 * (SIDE + 2) + 2)
    # the label matters: the same noise with two labels gives two images
    z = tr.fixed_noise[:1].repeat(2, 1)
    with torch.no_grad():
        out = tr.G(*tr.g_in.args(z, torch.tensor([1, 7])))
    assert not torch.allclose(out[0], out[1])


def test_graph_and_spec_must_agree(tmp_path):
    doc = tiny_gan_doc(conditional=True)
    doc["train"]["gan"]["conditional"] = False
    with pytest.raises(ProjectError, match="conditional"):
        setup_trainer(doc, tmp_path)
    doc = tiny_gan_doc()
    doc["train"]["gan"]["conditional"] = True
    with pytest.raises(ProjectError, match="label Input"):
        setup_trainer(doc, tmp_path)
    doc = tiny_gan_doc()
    doc["train"]["gan"]["latent_dim"] = LAT + 1
    with pytest.raises(ProjectError, match="latent_dim"):
        setup_trainer(doc, tmp_path)
    with pytest.raises(ProjectError, match="images shaped"):
        setup_trainer(tiny_gan_doc(), tmp_path, tiny_data(side=SIDE + 2))


def test_state_dict_round_trip_restores_both_optimizers_exactly(tmp_path):
    data = tiny_data()
    a = setup_trainer(tiny_gan_doc(n_critic=2), tmp_path / "a", data)
    run_steps(a, data, 3)
    buf = io.BytesIO()
    torch.save(a.state_dict(), buf)
    buf.seek(0)
    state = torch.load(buf, weights_only=True)
    b = setup_trainer(tiny_gan_doc(n_critic=2), tmp_path / "b", data, seed=99)
    b.load_state_dict(state)
    for opt in ("g_opt", "d_opt"):
        sa, sb = getattr(a, opt).state_dict(), getattr(b, opt).state_dict()
        assert sa["param_groups"] == sb["param_groups"]
        assert sa["state"].keys() == sb["state"].keys() and sa["state"]
        for k in sa["state"]:
            for name, v in sa["state"][k].items():
                assert torch.equal(v, sb["state"][k][name]), (opt, k, name)
    assert torch.equal(a.fixed_noise, b.fixed_noise)
    # both continue identically (same RNG for the step's noise)
    torch.manual_seed(5)
    run_steps(a, data, 2, start=3)
    torch.manual_seed(5)
    run_steps(b, data, 2, start=3)
    for pa, pb in zip(list(a.G.parameters()) + list(a.D.parameters()), list(b.G.parameters()) + list(b.D.parameters())):
        assert torch.equal(pa, pb)


def test_templates_compile_and_step(tmp_path):
    from engine.data import load_bundle
    from engine.templates import load_template

    for name in ("dcgan", "cgan"):
        project = load_template(name)
        project.data.limit = 64
        data = load_bundle(project.data)
        tr = make_trainer(project)
        torch.manual_seed(0)
        tr.setup(TrainContext(project, torch.device("cpu"), data, str(tmp_path / name)))
        logs = tr.train_step((data.train_x[:8], data.train_y[:8]), StepContext(0, 1, 0, 10))
        assert torch.isfinite(logs["g_loss"])
        assert tr.G.output_shape == (1, 28, 28)


def test_generator_ema(tmp_path):
    from engine.generate import generate

    data = tiny_data()
    tr = setup_trainer(tiny_gan_doc(ema=0.9), tmp_path, data)
    assert tr.sampler is tr.G_ema
    run_steps(tr, data, 1)
    # first update: decay min(0.9, 1/10) = 0.1 -> the average moved 90% of the way to G
    run_steps(tr, data, 5, start=1)
    g, e = tr.G.fc.weight.detach(), tr.G_ema.fc.weight.detach()
    assert not torch.equal(g, e) and torch.allclose(g, e, atol=0.05)
    assert all(torch.equal(a, b) for a, b in zip(tr.G_ema.buffers(), tr.G.buffers()))
    state = tr.state_dict()
    assert "generator_ema" in state["models"] and state["ema_updates"] == 6
    project = tr.project
    with_ema = generate(project, state, 4, seed=0)
    raw = generate(project, state, 4, seed=0, use_ema=False)
    assert not np.array_equal(with_ema, raw)
    b = setup_trainer(tiny_gan_doc(ema=0.9), tmp_path / "b", data)
    b.load_state_dict(state)
    assert torch.equal(b.G_ema.fc.weight, tr.G_ema.fc.weight) and b._ema_updates == 6


# -- diagnostics (synthetic numbers) ----------------------------------------------------------


def test_monitor_d_overpowering_fires_once_per_episode():
    m = GanMonitor(patience=4)
    out = []
    for i in range(4):
        out += m.observe_losses(0.01, 3.0 + i, global_step=i)
    assert [d.code for d in out] == ["d_overpowering"]
    assert "discriminator" in out[0].message and "learning rate" in out[0].suggestion
    assert m.observe_losses(0.01, 9.0) == []  # same episode: no repeat
    m.observe_losses(0.7, 1.0)  # recovers
    out = []
    for i in range(4):
        out += m.observe_losses(0.02, 2.0 + i)
    assert [d.code for d in out] == ["d_overpowering"]


def test_monitor_quiet_when_generator_loss_not_rising_or_d_healthy():
    m = GanMonitor(patience=3)
    assert sum((m.observe_losses(0.01, 5.0 - i) for i in range(6)), []) == []
    m = GanMonitor(patience=3)
    assert sum((m.observe_losses(0.6, 1.0 + i) for i in range(6)), []) == []


def test_monitor_mode_collapse():
    m = GanMonitor(collapse_ratio=0.35)
    assert m.observe_diversity(0.1, 1.0, epoch=0) == []  # untrained generator at the start: not armed
    assert m.observe_diversity(0.8, 1.0, epoch=0) == []
    out = m.observe_diversity(0.2, 1.0, epoch=0)
    assert [d.code for d in out] == ["mode_collapse"]
    assert m.observe_diversity(0.2, 1.0, epoch=1) == []  # no repeat while still collapsed
    m.observe_diversity(0.9, 1.0, epoch=1)
    assert [d.code for d in m.observe_diversity(0.1, 1.0, epoch=2)] == ["mode_collapse"]
    late = GanMonitor()
    assert [d.code for d in late.observe_diversity(0.1, 1.0, epoch=1)] == ["mode_collapse"]


def test_monitor_divergence_and_trainer_diagnostics(tmp_path):
    m = GanMonitor()
    assert [d.code for d in m.observe_losses(float("nan"), 1.0)] == ["gan_diverged"]
    data = tiny_data()
    tr = setup_trainer(tiny_gan_doc(), tmp_path, data)
    run_steps(tr, data, 2)
    assert tr.diagnostics() == []  # healthy start
    assert tr._win_n == 0  # the window was consumed


def test_pca_frechet_is_zero_for_same_data_and_grows_with_shift():
    g = torch.Generator().manual_seed(0)
    real = torch.rand(300, 1, 8, 8, generator=g)
    fd = PcaFrechet(real, k=5)
    assert fd(real) == pytest.approx(0.0, abs=1e-6)
    assert fd(real + 0.1) > fd(real + 0.01) > 0
    c = torch.eye(3, dtype=torch.float64)
    assert frechet_distance(torch.zeros(3, dtype=torch.float64), c, torch.ones(3, dtype=torch.float64), c) == pytest.approx(3.0)


# -- through the real loop and checkpoints ------------------------------------------------------


def digits_gan_doc(epochs: int) -> dict:
    g_nodes, g_edges = chain(
        ("noise", "Input", {"shape": [LAT]}), ("fc", "Linear", {"out_features": 784}),
        ("shape", "Reshape", {"shape": [1, 28, 28]}), ("tanh", "Tanh", {}), ("out", "Output", {}),
    )
    d_nodes, d_edges = chain(
        ("image", "Input", {"shape": [1, 28, 28]}), ("flat", "Flatten", {}), ("fc", "Linear", {"out_features": 8}),
        ("act", "LeakyReLU", {"negative_slope": 0.2}), ("logit", "Linear", {"out_features": 1}), ("out", "Output", {}),
    )
    return {
        "format": "layerlab-project", "version": 1, "name": "loop gan",
        "data": {"batch_size": 16, "limit": 80},
        "models": {"generator": {"nodes": g_nodes, "edges": g_edges},
                   "discriminator": {"nodes": d_nodes, "edges": d_edges}},
        "train": {"task": "gan", "epochs": epochs, "seed": 3, "device": "cpu",
                  "gan": {"latent_dim": LAT, "grid": 2, "samples_per_epoch": 1, "timeline_max": 4, "n_critic": 2}},
    }


def test_loop_runs_gan_and_resumes_exactly(tmp_path):
    from engine.train.api import train_project
    from engine.train.checkpoint import load_checkpoint
    from engine.train.events import EpochEnd, Samples

    events = []
    straight = train_project(digits_gan_doc(2), tmp_path / "straight", on_event=events.append)
    assert straight["status"] == "completed", straight.get("error")
    kinds = [e.kind for e in events if isinstance(e, Samples)]
    assert kinds.count("gan") == 4  # one mid-epoch + one at each epoch end
    ends = [e for e in events if isinstance(e, EpochEnd)]
    assert len(ends) == 2 and {"d_loss", "g_loss", "d_x", "d_gz", "fd_pca"} <= set(ends[-1].metrics)
    assert len(list((tmp_path / "straight" / "samples").glob("*.png"))) == 4

    first = train_project(digits_gan_doc(1), tmp_path / "resumed")
    assert first["status"] == "completed", first.get("error")
    resumed = train_project(digits_gan_doc(2), tmp_path / "resumed", resume=first["checkpoints"]["last"])
    assert resumed["status"] == "completed", resumed.get("error")

    a = load_checkpoint(straight["checkpoints"]["last"])["trainer"]
    b = load_checkpoint(resumed["checkpoints"]["last"])["trainer"]
    for role in ("generator", "discriminator"):
        for k, v in a["models"][role].items():
            assert torch.equal(v, b["models"][role][k]), (role, k)
    for opt in ("g_optimizer", "d_optimizer"):
        sa, sb = a[opt]["state"], b[opt]["state"]
        assert sa.keys() == sb.keys() and sa
        for k in sa:
            for name, v in sa[k].items():
                assert torch.equal(v, sb[k][name]), (opt, k, name)
    assert a["step_count"] == b["step_count"] == 10
    assert a["schedules"] == b["schedules"]


def test_schedule_moves_both_learning_rates(tmp_path):
    data = tiny_data()
    doc = tiny_gan_doc()
    doc["train"]["schedule"] = {"name": "cosine"}
    doc["train"]["epochs"] = 2
    tr = setup_trainer(doc, tmp_path, data)
    lr0 = (tr.g_opt.param_groups[0]["lr"], tr.d_opt.param_groups[0]["lr"])
    run_steps(tr, data, 4)
    lr1 = (tr.g_opt.param_groups[0]["lr"], tr.d_opt.param_groups[0]["lr"])
    assert lr1[0] < lr0[0] and lr1[1] < lr0[1] and tr.current_lr() == lr1[0]
