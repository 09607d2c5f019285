"""DeviceLoader.state_dict: what capture/restore (resume, the LR finder) relies on."""

from __future__ import annotations

import torch

from netcoach.data.base import Split
from netcoach.data.loader import DeviceLoader
from netcoach.utils.runtime import make_generator


def _loader():
    split = Split(torch.arange(20).float().view(20, 1), torch.arange(20))
    return DeviceLoader(split, 4, shuffle=True, generator=make_generator(0, 1))


def _equal(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(
        torch.equal(a[k], b[k]) if isinstance(a[k], torch.Tensor) else a[k] == b[k] for k in a)


def test_state_of_a_restored_not_yet_iterated_loader_is_the_state_it_was_given():
    loader = _loader()
    it = iter(loader)
    next(it), next(it)                      # two batches into the epoch
    saved = loader.state_dict()
    assert saved["position"] == 2
    other = _loader()
    other.load_state_dict(saved)
    assert _equal(other.state_dict(), saved)  # capture -> restore -> capture is a fixed point
    rest = [y.tolist() for _, y in other]
    assert rest == [y.tolist() for _, y in it]  # and it continues with the same batches


def test_restoring_after_iterating_elsewhere_replays_the_same_batches():
    loader = _loader()
    saved = loader.state_dict()
    first = [y.tolist() for _, y in loader]
    for _ in range(3):                      # e.g. an LR sweep drawing epochs
        list(loader)
    loader.load_state_dict(saved)
    assert [y.tolist() for _, y in loader] == first
