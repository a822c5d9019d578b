"""RAM network shapes and the gradient rules, checked on .grad rather than by reading code."""

import pytest
import torch

from rnnagents.agents.ram import RAMModelConfig, RecurrentAttentionModel, ram_loss

B, T, S, G = 6, 4, 2, 8


def unroll(model, seed=0):
    """A hand-rolled episode on random glimpses, feeding each sampled location back in."""
    torch.manual_seed(seed)
    glimpses = torch.rand(T, B, S, G, G)
    state = model.initial_state(B)
    location = torch.zeros(B, 2)
    log_pis, baselines, samples = [], [], []
    for t in range(T):
        h, state = model.step(glimpses[t], location, state)
        if t < T - 1:
            location, log_pi, _ = model.locate(h)
            samples.append(location)
            log_pis.append(log_pi)
            baselines.append(model.baseline(h))
    logits = model.classify(h)
    labels = torch.randint(0, 10, (B,))
    reward = (logits.argmax(-1) == labels).float()
    reward[:3] = 1.0  # both outcomes present, so the advantage is not degenerate
    return logits, labels, reward, torch.stack(log_pis, 1), torch.stack(baselines, 1), samples


def make(**kw):
    return RecurrentAttentionModel(RAMModelConfig(glimpse_pixels=S * G * G, **kw))


def grads_of(module):
    return [p.grad for p in module.parameters()]


def is_zero(grads):
    return all(g is None or torch.count_nonzero(g) == 0 for g in grads)


@pytest.mark.parametrize("core", ["rnn", "lstm", "gru", "peephole-lstm"])
def test_shapes(core):
    model = make(core=core)
    logits, labels, reward, log_pis, baselines, samples = unroll(model)
    assert logits.shape == (B, 10)
    assert log_pis.shape == baselines.shape == (B, T - 1)
    assert all(s.shape == (B, 2) and s.abs().max() <= 1 for s in samples)
    assert not any(s.requires_grad for s in samples)  # rule (a): samples are detached


def test_reinforce_reaches_location_net_only_through_mean():
    model = make(reinforce_trains_core=False)
    logits, labels, reward, log_pis, baselines, _ = unroll(model)
    loss = ram_loss(logits, labels, reward, log_pis, baselines)
    loss.reinforce.backward()
    assert not is_zero(grads_of(model.location_net))  # through log pi(l | mean)
    assert is_zero(grads_of(model.core)) and is_zero(grads_of(model.glimpse_net))
    assert is_zero(grads_of(model.baseline_net))  # rule (c): advantage uses b detached
    assert is_zero(grads_of(model.action_net))


def test_reinforce_trains_core_when_asked():
    model = make(reinforce_trains_core=True)
    logits, labels, reward, log_pis, baselines, _ = unroll(model)
    ram_loss(logits, labels, reward, log_pis, baselines).reinforce.backward()
    assert not is_zero(grads_of(model.core)) and not is_zero(grads_of(model.glimpse_net))
    assert is_zero(grads_of(model.baseline_net))


def test_classification_loss_never_reaches_location_net():
    model = make(reinforce_trains_core=True)
    logits, labels, reward, log_pis, baselines, _ = unroll(model)
    ram_loss(logits, labels, reward, log_pis, baselines).classification.backward()
    assert is_zero(grads_of(model.location_net))  # rule (b)
    assert not is_zero(grads_of(model.core)) and not is_zero(grads_of(model.action_net))


def test_baseline_loss_trains_only_the_baseline():
    model = make()
    logits, labels, reward, log_pis, baselines, _ = unroll(model)
    ram_loss(logits, labels, reward, log_pis, baselines).baseline.backward()
    assert not is_zero(grads_of(model.baseline_net))
    for part in (model.core, model.glimpse_net, model.location_net, model.action_net):
        assert is_zero(grads_of(part))  # rule (c): b_t reads h_t detached


def test_hybrid_loss_values():
    model = make()
    logits, labels, reward, log_pis, baselines, _ = unroll(model)
    loss = ram_loss(logits, labels, reward, log_pis, baselines, reinforce_weight=0.5)
    advantage = reward[:, None] - baselines.detach()
    expected_reinforce = (-log_pis * advantage).sum(1).mean()
    torch.testing.assert_close(loss.reinforce, expected_reinforce)
    torch.testing.assert_close(
        loss.total, loss.classification + 0.5 * loss.reinforce + loss.baseline
    )


def test_random_locations_have_no_policy_gradient():
    model = make(random_locations=True)
    logits, labels, reward, log_pis, baselines, samples = unroll(model)
    assert torch.count_nonzero(log_pis) == 0
    assert all(s.abs().max() <= 1 for s in samples)


def test_location_sample_follows_generator():
    model = make()
    h = torch.randn(B, model.config.hidden_size)
    a = model.locate(h, torch.Generator().manual_seed(3))[0]
    b = model.locate(h, torch.Generator().manual_seed(3))[0]
    c = model.locate(h, torch.Generator().manual_seed(4))[0]
    assert torch.equal(a, b) and not torch.equal(a, c)


@pytest.mark.parametrize("random_locations", [False, True])
def test_log_pi_of_a_whole_rollout_at_once_equals_step_by_step(random_locations):
    """What play_batch relies on: proposing per step and scoring all steps in one call."""
    model = make(random_locations=random_locations)
    hs = torch.randn(T, B, model.config.hidden_size)
    stepwise = [model.locate(h, torch.Generator().manual_seed(t)) for t, h in enumerate(hs)]
    proposed = [model.propose(h, torch.Generator().manual_seed(t)) for t, h in enumerate(hs)]
    samples, means = (torch.stack([p[i] for p in proposed], 1) for i in (1, 2))
    torch.testing.assert_close(
        model.log_pi(samples, means), torch.stack([s[1] for s in stepwise], 1)
    )
    assert all(torch.equal(s[0], p[0]) for s, p in zip(stepwise, proposed, strict=True))


@pytest.mark.parametrize(
    "kwargs", [dict(core="transformer"), dict(location_std=0.0), dict(hidden_size=0)]
)
def test_bad_model_config(kwargs):
    with pytest.raises(ValueError):
        make(**kwargs)
