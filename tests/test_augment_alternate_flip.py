"""airbench's alternating flip (``augment.hflip_mode alternate``) and the training loader's
``data.drop_last``: which samples each epoch mirrors, exact resume, independence from the
batch order and the number of processes, and the config errors."""

from __future__ import annotations

import pytest
import torch

from netcoach.augment import build_augment
from netcoach.config import Config, ConfigError, apply_overrides
from netcoach.data import DeviceLoader, Split
from netcoach.data.base import DataBundle
from netcoach.data.build import build_loaders
from netcoach.utils.runtime import make_generator

N, KEY_SEED = 22, 11


def ramps(n: int = N) -> Split:
    """Sample i is a 1 x 1 x 4 uint8 ramp rising left to right, labelled i: a mirrored
    sample falls instead, and its label says which sample it was."""
    x = (torch.arange(4) + 4 * torch.arange(n).view(n, 1)).to(torch.uint8).view(n, 1, 1, 4)
    return Split(x, torch.arange(n))


def flip_loader(mode: str = "alternate", p: float = 0.5, transforms=("hflip",), **kw) -> DeviceLoader:
    cfg = apply_overrides(Config(), {"augment.transforms": ",".join(transforms), "augment.hflip_p": str(p),
                                     "augment.hflip_mode": mode, "augment.translate_fill": "reflect"})
    return DeviceLoader(kw.pop("split", ramps()), kw.pop("batch_size", 4), scale=255.0, shuffle=True,
                        generator=make_generator(0, 1), transform=build_augment(cfg.augment),
                        aug_generator=make_generator(0, 2), key_seed=KEY_SEED, **kw)


def mirrored(batches) -> dict[int, bool]:
    """Sample label -> whether its ramp came out mirrored."""
    return {int(i): bool(x[0, 0, 0] > x[0, 0, -1]) for xb, yb in batches for x, i in zip(xb, yb)}


def epoch_flags(loader: DeviceLoader) -> list[bool]:
    seen = mirrored(iter(loader))
    assert sorted(seen) == list(range(N))  # every sample once per epoch
    return [seen[i] for i in range(N)]


def test_epoch_zero_is_a_seeded_draw_and_every_later_epoch_mirrors_the_others():
    loader = flip_loader()
    first = (torch.rand(N, generator=torch.Generator().manual_seed(KEY_SEED)) < 0.5).tolist()
    assert 0 < sum(first) < N
    inverted = [not f for f in first]
    assert [epoch_flags(loader) for _ in range(4)] == [first, inverted, first, inverted]


def test_with_probability_p_the_first_epoch_mirrors_that_share_and_the_second_the_rest():
    n = 4000
    loader = flip_loader(p=0.3, split=Split(torch.zeros(n, 1, 1, 4, dtype=torch.uint8), torch.arange(n)),
                         batch_size=500)
    first = mirrored_counts(loader, n)
    second = mirrored_counts(loader, n)
    assert abs(first.float().mean() - 0.3) < 0.03
    assert torch.equal(second, ~first)


def mirrored_counts(loader: DeviceLoader, n: int) -> torch.Tensor:
    """Mirror flags per sample of one epoch, read from the flip's own draw (zero images)."""
    out = torch.zeros(n, dtype=torch.bool)
    hflip = loader.transform.steps[0]
    real = hflip.sample

    def spy(x, generator, keys=None):
        params = real(x, generator, keys)
        out[keys.index] = params["active"]
        return params

    hflip.sample = spy
    try:
        list(loader)
    finally:
        del hflip.sample
    return out


def test_random_mode_mirrors_independently_each_epoch():
    loader = flip_loader(mode="random")
    epochs = [epoch_flags(loader) for _ in range(4)]
    assert any(a == b for a, b in zip(epochs[0], epochs[1]))  # some sample repeats its view


def test_a_resume_mid_epoch_continues_with_the_same_mirrors_and_shifts():
    kw = dict(transforms=("hflip", "translate"), split=Split(torch.randint(0, 256, (N, 3, 8, 8), dtype=torch.uint8,
                                                                          generator=torch.Generator().manual_seed(1)),
                                                             torch.arange(N)))
    loader = flip_loader(**kw)
    list(loader)                                   # epoch 0
    it = iter(loader)
    next(it)                                       # one batch into epoch 1
    state = loader.state_dict()
    assert state["epoch"] == 1
    rest = [x for x, _ in it] + [x for x, _ in loader]  # the rest of epoch 1, then epoch 2
    resumed = flip_loader(**kw)
    resumed.load_state_dict(state)
    again = [x for x, _ in resumed] + [x for x, _ in resumed]
    assert len(rest) == len(again) and all(torch.equal(a, b) for a, b in zip(rest, again))


def test_alternate_mode_draws_the_generator_as_random_mode_does():
    x = torch.randint(0, 256, (9, 3, 8, 8), dtype=torch.uint8, generator=torch.Generator().manual_seed(2))
    y = torch.arange(9)
    outs, states = [], []
    for mode in ("random", "alternate"):
        cfg = apply_overrides(Config(), {"augment.transforms": "hflip,translate", "augment.hflip_mode": mode})
        g = torch.Generator().manual_seed(3)
        outs.append(build_augment(cfg.augment).from_stored(x, y, g, lambda b: b.float() / 255.0)[0])
        states.append(g.get_state())
    assert torch.equal(states[0], states[1])  # the shifts that follow are the same draws
    assert torch.equal(outs[0], outs[1])      # without keys (the preview) it draws as random does


def test_each_sample_gets_the_same_mirror_whatever_the_number_of_processes():
    one = epoch_flags_of([flip_loader(batch_size=6)], epochs=2)
    two = epoch_flags_of([flip_loader(batch_size=6, rank=r, world_size=2) for r in (0, 1)], epochs=2)
    assert one == two


def epoch_flags_of(loaders: list[DeviceLoader], epochs: int) -> list[dict[int, bool]]:
    out = []
    for _ in range(epochs):
        seen: dict[int, bool] = {}
        for loader in loaders:
            seen.update(mirrored(iter(loader)))
        out.append(seen)
    return out


@pytest.mark.parametrize("overrides, message", [
    ({"augment.transforms": "hflip", "augment.hflip_mode": "mirror"}, "alternate"),
    ({"augment.transforms": "crop,translate", "augment.hflip_mode": "alternate"},
     "augment.hflip_mode alternate: applies to the hflip transform"),
])
def test_a_bad_hflip_mode_fails_when_the_config_is_loaded(overrides, message):
    with pytest.raises(ConfigError, match=message):
        apply_overrides(Config(), overrides)


def _bundle(n: int) -> DataBundle:
    split = ramps(n)
    return DataBundle(name="ramps", train=split, val=ramps(4), test=ramps(4), num_classes=n,
                      class_names=[str(i) for i in range(n)], scale=255.0)


def test_drop_last_leaves_out_the_incomplete_last_batch_of_every_epoch():
    config = apply_overrides(Config(), {"data.batch_size": "4", "data.drop_last": "true"})
    train = build_loaders(config, _bundle(N))["train"]
    assert len(train) == N // 4 == 5
    sizes = [len(y) for _, y in train]
    assert sizes == [4] * 5                       # 22 = 5 x 4 + 2: the 2 are left out
    kept = {int(i) for _, y in train for i in y}
    assert len(kept) == 20
    plain = build_loaders(apply_overrides(Config(), {"data.batch_size": "4"}), _bundle(N))["train"]
    assert [len(y) for _, y in plain] == [4] * 5 + [2]


def test_drop_last_with_fewer_training_samples_than_a_batch_is_refused():
    config = apply_overrides(Config(), {"data.batch_size": "64", "data.drop_last": "true"})
    with pytest.raises(ConfigError, match="data.drop_last: the training split holds 22 samples, fewer than "
                                          "data.batch_size 64"):
        build_loaders(config, _bundle(N))
