"""The train/val/test split: written in numpy (importing scikit-learn's model_selection
costs ~1 s per run), it must draw exactly the split scikit-learn's train_test_split draws,
so saved runs rebuild the same test split."""

import numpy as np
import pytest
from sklearn.model_selection import train_test_split

from netcoach.data.splits import SplitTooSmall, approximate_mode, stratified_indices, three_way


def sklearn_split(y, fraction, seed, stratify):
    kept, held = train_test_split(np.arange(len(y)), test_size=fraction, random_state=seed,
                                  stratify=y if stratify else None)
    return np.sort(kept), np.sort(held)


LABELS = {
    "balanced": np.repeat(np.arange(10), 50),
    "imbalanced": np.array([0] * 97 + [1] * 13 + [2] * 5 + [3] * 2),
    "shuffled": np.random.default_rng(3).integers(0, 7, size=1003),
    "strings": np.array(list("abcab" * 40)),
}


@pytest.mark.parametrize("name", sorted(LABELS))
@pytest.mark.parametrize("fraction", [0.1, 0.17, 0.5])
@pytest.mark.parametrize("stratify", [True, False])
def test_split_equals_sklearn_train_test_split_for_every_seed(name, fraction, stratify):
    y = LABELS[name]
    for seed in range(6):
        ours = stratified_indices(y, fraction, seed, stratify)
        theirs = sklearn_split(y, fraction, seed, stratify)
        assert np.array_equal(ours[0], theirs[0]) and np.array_equal(ours[1], theirs[1]), (name, seed)


def test_multilabel_rows_split_like_sklearn():
    y = np.random.default_rng(0).integers(0, 2, size=(300, 3))
    for seed in range(3):
        ours, theirs = stratified_indices(y, 0.2, seed), sklearn_split(y, 0.2, seed, True)
        assert np.array_equal(ours[1], theirs[1])


def test_three_way_partitions_every_index_once_and_keeps_proportions():
    y = np.repeat(np.arange(4), [400, 200, 100, 100])
    tr, va, te = three_way(y, 0.1, 0.2, seed=0)
    assert np.array_equal(np.sort(np.concatenate([tr, va, te])), np.arange(len(y)))
    assert len(te) == 160 and len(va) == 80  # ceil(0.2 * 800); 0.1 / 0.8 of the 640 left
    assert np.bincount(y[te]).tolist() == [80, 40, 20, 20]  # exactly proportional here


def test_approximate_mode_gives_the_leftover_draw_to_the_largest_remainder():
    # shares 10 * [0.5, 0.3, 0.2] = 5, 3, 2 exactly; 7 draws: 3.5, 2.1, 1.4 -> floors 3, 2, 1
    # and the one leftover goes to the largest remainder (0.5, class 0)
    rng = np.random.RandomState(0)
    assert approximate_mode(np.array([5, 3, 2]), 10, rng).tolist() == [5, 3, 2]
    assert approximate_mode(np.array([5, 3, 2]), 7, rng).tolist() == [4, 2, 1]


def test_a_class_with_one_sample_cannot_be_stratified():
    with pytest.raises(SplitTooSmall, match=r"least populated.*\[2\]"):
        stratified_indices(np.array([0, 0, 1, 1, 2]), 0.4, 0)


def test_fewer_held_out_samples_than_classes_is_refused():
    with pytest.raises(SplitTooSmall, match="held-out part would have 1 samples, fewer than the number of classes"):
        stratified_indices(np.repeat(np.arange(3), 4), 0.05, 0)


def test_fraction_outside_zero_one_is_refused():
    with pytest.raises(ValueError, match=r"split fraction must be in \(0, 1\), got 1.0"):
        stratified_indices(np.arange(10), 1.0, 0)
