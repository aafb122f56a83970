import pytest
import torch
import torch.nn.functional as F

from layergan.errors import ConfigError
from layergan.models.discriminator import ResidualDiscriminator
from layergan.models.example_batch import example_batch
from layergan.methods.losses import gradient_penalty
from layergan.methods.registry import METHODS, get_method, resolve
from layergan.models.stylegan2 import SynthesisNetwork, modulated_conv2d

CLASSES = ("background", "person", "car")
TINY = {"w_dim": 32, "channel_base": 512, "channel_max": 32, "d_channel_base": 256, "d_channel_max": 32,
        "ngf": 8, "ndf": 8}


def tiny_config(method, size=32, **overrides):
    """The method's real defaults with tiny widths."""
    return resolve(method, overrides={"size": size, "model": TINY, **overrides}, source="test")


def fake_batch(n=2, size=32, classes=3, seed=0):
    return example_batch(n, size, classes, seed)


@pytest.mark.parametrize("size", [32, 64, 128])
@pytest.mark.parametrize("method", list(METHODS))
def test_output_shapes(method, size):
    built = get_method(method).build(tiny_config(method, size), CLASSES)
    out = built.G(fake_batch(size=size))
    assert out["thermal"].shape == (2, 1, size, size)
    if method == "layergan":
        assert out["branches"].shape == (2, 3, 1, size, size)


@pytest.mark.parametrize("base, cap", [(256, 16), (1024, 64)])
def test_synthesis_channel_counts(base, cap):
    net = SynthesisNetwork(w_dim=16, resolution=32, channel_base=base, channel_max=cap)
    widths = [b.convs[-1].weights[0].shape[0] for b in net.blocks]
    assert widths == [min(base // r, cap) for r in (4, 8, 16, 32)]
    assert net(torch.randn(3, net.num_ws, 16), net.random_noise(3)).shape == (3, 1, 1, 32, 32)


def test_modulated_conv_equals_per_sample_convolution():
    torch.manual_seed(0)
    x, weight, styles = torch.randn(3, 5, 9, 9), torch.randn(4, 5, 3, 3), torch.randn(3, 5)
    out = modulated_conv2d(x, weight, styles, demodulate=True)
    for i in range(3):
        w = weight * styles[i].reshape(1, 5, 1, 1)
        w = w / w.square().sum(dim=[1, 2, 3], keepdim=True).add(1e-8).sqrt()
        assert torch.allclose(out[i:i + 1], F.conv2d(x[i:i + 1], w, padding=1), atol=1e-5)


def test_demodulation_gives_unit_output_variance():
    torch.manual_seed(0)
    x = torch.randn(8, 64, 32, 32)
    out = modulated_conv2d(x, torch.randn(64, 64, 3, 3), torch.rand(8, 64) * 3 + 0.1, demodulate=True)
    assert abs(out.var().item() - 1.0) < 0.05


def test_gradients_reach_encoder_noise_convs_branches_and_every_discriminator():
    built = get_method("layergan").build(tiny_config("layergan"), CLASSES)
    loss = built.make_loss(built.Ds, _null)
    batch = fake_batch()
    output = built.G(batch)
    for phase in loss.phases:
        loss.accumulate_gradients(phase.name, batch, output)
    G = built.G
    assert G.encoder.resnet.conv1.weight.grad.abs().sum() > 0
    assert len(G.encoder.noise_convs) == 7  # 32 px has 7 conv layers, all fed by the encoder
    for conv in G.encoder.noise_convs:
        assert conv.weight.grad is not None and conv.weight.grad.abs().sum() > 0
    for k in range(3):
        assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in G.synthesis.branch_parameters(k)
                   if p.ndim > 0)
    critics = built.Ds["classes"]
    for k in range(3):  # every class critic's first layer learns
        assert critics.from_image.weights[k].grad.abs().sum() > 0, k


def test_class_critics_combine_as_a_weighted_mean_over_present_classes():
    cfg = tiny_config("layergan", loss={"class_adv_weights": {"person": 3.0}})
    built = get_method("layergan").build(cfg, CLASSES)
    loss = built.make_loss(built.Ds, _null)
    batch = fake_batch()
    weights = loss.critic_weights(loss.presence(batch)).tolist()
    assert weights == pytest.approx([0.2, 0.6, 0.2])
    batch["masks"][:, 2] = 0  # no car in the batch: its critic drops out, the rest renormalize
    weights = loss.critic_weights(loss.presence(batch)).tolist()
    assert weights == pytest.approx([0.25, 0.75, 0.0])


def _null():
    import contextlib

    return contextlib.nullcontext()


def test_changing_branch_k_changes_output_only_inside_mask_k():
    built = get_method("layergan").build(tiny_config("layergan"), CLASSES)
    G, batch = built.G.eval(), fake_batch()
    before = G(batch)["thermal"]
    with torch.no_grad():
        for p in G.synthesis.branch_parameters(1):
            p.add_(torch.randn_like(p) * 0.5)
    after = G(batch)["thermal"]
    changed = (after - before).abs() > 1e-6
    inside = batch["masks"][:, 1:2] > 0
    assert changed[inside].float().mean() > 0.9
    assert not changed[~inside].any()


def test_gradient_penalty_of_linear_critic_is_exact():
    w = torch.tensor([0.3, -2.0, 1.5, 0.7]).reshape(1, 4, 1, 1)
    critic = lambda x: (x * w).flatten(1).sum(1)  # noqa: E731
    real, fake = torch.randn(5, 4, 1, 1), torch.randn(5, 4, 1, 1)
    expected = (w.norm() - 1) ** 2
    assert torch.allclose(gradient_penalty(critic, real, fake), expected.expand(5), atol=1e-6)


@pytest.mark.parametrize("method", ["seg2thermal", "layergan"])
def test_temperature_vector_changes_the_output(method):
    G = get_method(method).build(tiny_config(method), CLASSES).G.eval()
    batch = fake_batch()
    a = G(batch)["thermal"]
    batch["t"] = batch["t"] + 1.0
    assert (G(batch)["thermal"] - a).abs().mean() > 1e-4


def test_residual_discriminator_scores_and_mbstd():
    D = ResidualDiscriminator(5, 32, 256, 32)
    assert D(torch.randn(6, 5, 32, 32)).shape == (6,)


def test_registry_builds_every_method_and_refuses_unknown_names():
    assert set(METHODS) == {"pix2pix", "thermalgan", "seg2thermal", "layergan-reduced", "layergan"}
    with pytest.raises(ConfigError, match="valid methods: pix2pix, thermalgan, seg2thermal"):
        get_method("stylegan9")


def test_per_class_settings_must_name_known_classes():
    cfg = tiny_config("layergan", optim={"class_lr": {"dragon": 2.0}})
    with pytest.raises(ConfigError, match="dragon"):
        get_method("layergan").build(cfg, CLASSES)


def test_layergan_param_groups_cover_every_parameter_once():
    cfg = tiny_config("layergan", optim={"class_lr": {"car": 3.0}})
    built = get_method("layergan").build(cfg, CLASSES)
    groups = built.param_groups(built.G, built.Ds, cfg)
    ids = [id(p) for g in groups["G"] for p in g["params"]]
    assert len(ids) == len(set(ids)) == len(list(built.G.parameters()))
    car = next(g for g in groups["G"] if g.get("name") == "car")
    assert car["lr"] == pytest.approx(cfg.optim.lr_g * 3.0)


def test_critic_phases_add_up_to_equation_2():
    """D + Dgp accumulate exactly the gradient of critic_loss (eq. 2); the split only lets the GP run lazily."""
    from layergan.methods.losses import critic_loss

    built = get_method("layergan-reduced").build(tiny_config("layergan-reduced", loss={"gp_interval": 1}), CLASSES)
    loss, batch = built.make_loss(built.Ds, _null), fake_batch()
    output = {"thermal": built.G(batch)["thermal"].detach()}
    torch.manual_seed(1)
    for phase in ("D", "Dgp"):
        loss.accumulate_gradients(phase, batch, output)
    phased = [p.grad.clone() for p in built.Ds.parameters()]
    built.Ds.zero_grad(set_to_none=True)
    torch.manual_seed(1)  # the same interpolation weights
    real, fake, presence = batch["target"], output["thermal"], loss.presence(batch)
    score = lambda x: loss.scores(batch, x)  # noqa: E731
    penalty = gradient_penalty(score, real, fake)
    critic_loss(score(real), score(fake), penalty, presence, 10.0, 0.001).sum().backward()
    assert all(torch.allclose(a, p.grad, rtol=1e-4, atol=1e-6) for a, p in zip(phased, built.Ds.parameters()))
    assert sum(float(g.abs().sum()) for g in phased) > 0


def test_lazy_penalty_is_a_phase_interval_weighted_by_it():
    built = get_method("layergan").build(tiny_config("layergan", loss={"gp_interval": 4}), CLASSES)
    loss = built.make_loss(built.Ds, _null)
    assert [(p.name, p.optimizer, p.interval) for p in loss.phases] == [("D", "D", 1), ("Dgp", "D", 4), ("G", "G", 1)]


def padded_batch(size=32):
    """example_batch with the right quarter as letterbox padding, every tensor consistent with it."""
    batch = fake_batch(size=size)
    batch["valid"][..., -size // 4:] = 0
    for key in ("masks", "target", "r", "r_celsius", "thermal"):
        batch[key] = batch[key] * batch["valid"]
    batch["instances"] = torch.where(batch["valid"][:, 0] > 0, batch["instances"], -1)
    return batch


@pytest.mark.parametrize("method", list(METHODS))
def test_no_loss_term_of_g_reaches_the_padding(method):
    """Critics see the fake masked exactly as the real target: the G loss has zero gradient outside valid."""
    built = get_method(method).build(tiny_config(method), CLASSES)
    loss, batch = built.make_loss(built.Ds, _null), padded_batch()
    output = {k: v.detach().requires_grad_(True) for k, v in built.G.train()(batch).items()}
    loss.accumulate_gradients("G", batch, output)
    outside = batch["valid"] == 0
    touched = [k for k, v in output.items() if v.grad is not None]
    assert touched
    for key in touched:
        grad = output[key].grad
        if grad.ndim == 5:  # layergan's per-class layers (N, K, 1, S, S)
            grad = grad.sum(1)
        assert grad[outside.expand_as(grad)].abs().max() == 0, key
        assert grad[~outside.expand_as(grad)].abs().max() > 0, key


def test_class_critics_are_k_residual_discriminators_in_one_pass():
    """ClassCritics with critic k's weights copied into a ResidualDiscriminator scores exactly like it."""
    from layergan.models.discriminator import ClassCritics

    torch.manual_seed(0)
    critics, singles = ClassCritics(3, 5, 32, 256, 32), [ResidualDiscriminator(5, 32, 256, 32) for _ in range(3)]
    with torch.no_grad():
        for k, D in enumerate(singles):
            params = list(D.parameters())
            assert [p.shape for p in params] == [p.shape for p in critics.group_parameters(k)]
            for mine, theirs in zip(critics.group_parameters(k), params):
                theirs.copy_(mine)
    x = torch.randn(4, 15, 32, 32)
    expected = torch.stack([D(x[:, 5 * k:5 * (k + 1)]) for k, D in enumerate(singles)], dim=1)
    torch.testing.assert_close(critics(x), expected, rtol=1e-4, atol=1e-5)
    # nothing mixes the classes: changing class 1's input moves only class 1's score
    y = x.clone()
    y[:, 5:10] += 1
    changed = (critics(y) - critics(x)).abs().amax(0)
    assert changed[1] > 1e-4 and changed[0] == 0 and changed[2] == 0


def test_class_gradient_penalty_is_per_critic():
    """With K critics reading their own copy of x^, the penalty of critic k is that of critic k alone."""
    built = get_method("layergan").build(tiny_config("layergan"), CLASSES)
    loss, batch = built.make_loss(built.Ds, _null), fake_batch()
    real = batch["target"].unsqueeze(1).expand(2, 3, 1, 32, 32)
    fake = torch.zeros_like(real)
    torch.manual_seed(3)
    together = gradient_penalty(lambda x: loss.scores(batch, x), real, fake)
    assert together.shape == (2, 3)
    for k in range(3):
        torch.manual_seed(3)
        alone = gradient_penalty(lambda x: loss.scores(batch, x.unsqueeze(1).expand(2, 3, 1, 32, 32))[:, k],
                                 real[:, 0], fake[:, 0])
        torch.testing.assert_close(together[:, k], alone, rtol=1e-4, atol=1e-6)


def _random_noise_generator(method="layergan", strength=None):
    torch.manual_seed(0)
    G = get_method(method).build(tiny_config(method, model={**TINY, "random_noise": True}), CLASSES).G
    if strength is not None:
        with torch.no_grad():
            for m in G.modules():
                for p in getattr(m, "random_strengths", []):
                    p.fill_(strength)
    return G


@pytest.mark.parametrize("method", ["seg2thermal", "layergan"])
def test_random_noise_starts_silent_and_draws_fresh_noise_only_while_training(method):
    torch.manual_seed(0)
    plain = get_method(method).build(tiny_config(method), CLASSES).G.train()
    batch = fake_batch()
    # strength 0: the same function as the generator without it (the strengths take no random draws)
    assert torch.equal(_random_noise_generator(method).train()(batch)["thermal"], plain(batch)["thermal"])
    G = _random_noise_generator(method, strength=1.0)
    assert (G.train()(batch)["thermal"] - G(batch)["thermal"]).abs().max() > 1e-3
    G.eval()
    a = G(batch)["thermal"]
    assert torch.equal(a, G(batch)["thermal"])
    # outside training the noise follows each scene's layout: not the batch, and not its temperatures
    one = {k: v[1:2] for k, v in batch.items()}
    assert torch.allclose(G(one)["thermal"], a[1:2], atol=1e-5)
    drawn = []
    draw = G.synthesis.random_noise
    G.synthesis.random_noise = lambda *args: drawn.append(draw(*args)) or drawn[-1]
    G({**batch, "t": batch["t"] + 1.0})
    G(batch)
    G({**batch, "masks": batch["masks"].flip(-1)})
    assert all(torch.equal(a, b) for a, b in zip(drawn[0], drawn[1]))  # the texture does not move with T
    assert not any(torch.equal(a[0], b[0]) for a, b in zip(drawn[1], drawn[2]))  # another layout, another texture


def test_random_noise_strengths_learn_and_belong_to_their_branch():
    G = _random_noise_generator("layergan").train()
    G(fake_batch())["thermal"].square().mean().backward()
    strengths = [p for m in G.modules() for p in getattr(m, "random_strengths", [])]
    assert len(strengths) == len(G.synthesis.layer_resolutions) + 2 * (len(CLASSES) - 1)
    assert all(p.grad is not None for p in strengths) and any(p.grad.abs() > 0 for p in strengths)
    last_block = G.synthesis.blocks[-1].convs[0]
    assert any(p is last_block.random_strengths[1] for p in G.synthesis.branch_parameters(1))


def test_low_passed_l1_ignores_fine_error_and_keeps_coarse_error():
    from layergan.methods.losses import l1_loss

    target, weight = torch.zeros(1, 1, 32, 32), torch.ones(1, 1, 32, 32)
    checker = (torch.arange(32)[:, None] + torch.arange(32)[None, :]) % 2 * 2.0 - 1.0  # +-1 every pixel
    fine = checker.reshape(1, 1, 32, 32).requires_grad_(True)
    assert l1_loss(fine, target, weight).item() == pytest.approx(1.0)
    assert l1_loss(fine, target, weight, blur=1.5).item() < 0.02
    offset = torch.full((1, 1, 32, 32), 0.7)
    assert l1_loss(offset, target, weight, blur=1.5).item() == pytest.approx(0.7, abs=1e-4)
    l1_loss(fine, target, weight, blur=1.5).backward()
    assert fine.grad is not None and fine.grad.abs().sum() > 0
    # the error outside the weighted pixels is masked before the blur: it cannot leak in
    outside = torch.zeros(1, 1, 32, 32)
    outside[..., :16] = 50.0
    half = torch.zeros(1, 1, 32, 32)
    half[..., 16:] = 1.0
    assert l1_loss(outside, target, half, blur=1.5).item() == 0.0


def test_input_skips_feed_the_full_resolution_layers_from_the_input_pixels():
    from layergan.data.batch import gather_condition

    batch = fake_batch()
    maps = {}
    for flag in (False, True):
        torch.manual_seed(0)
        G = get_method("layergan").build(tiny_config("layergan", model={**TINY, "input_skips": flag}), CLASSES).G
        condition = gather_condition(batch, G.input_keys)
        _, noises = G.encoder(condition, batch["t"])
        maps[flag] = noises[-1]
        if flag:
            assert G.encoder.noise_sources[-2:] == ["input", "input"]
            assert torch.allclose(noises[-1], G.encoder.noise_convs[-1](condition))
    # the half-resolution stem, upsampled, is constant over 2x2 blocks; the input skip is not
    blocks = lambda m: m.unfold(2, 2, 2).unfold(3, 2, 2).flatten(-2).std(-1).max()  # noqa: E731
    assert blocks(maps[False]) < 1e-6 < blocks(maps[True])


def test_wide_skips_give_every_channel_of_a_layer_its_own_map_and_learn():
    from layergan.data.batch import gather_condition

    batch = fake_batch()
    torch.manual_seed(0)
    G = get_method("layergan").build(tiny_config("layergan", model={**TINY, "wide_skips": True}), CLASSES).G
    _, noises = G.encoder(gather_condition(batch, G.input_keys), batch["t"])
    widths = G.synthesis.layer_channels
    fed = [(n, c) for n, c in zip(noises, widths) if n is not None]
    assert fed and all(n.shape[1] == c > 1 for n, c in fed)
    assert all(n.shape[-1] == r for n, r in zip(noises, G.synthesis.layer_resolutions) if n is not None)
    finest = noises[-1]
    assert (finest[:, 0] - finest[:, 1]).abs().max() > 1e-4  # not one map broadcast to all channels
    G(batch)["thermal"].square().mean().backward()
    assert G.encoder.noise_convs[-1].weight.grad.abs().sum() > 0
    assert G.init_kwargs["wide_skips"] is True
