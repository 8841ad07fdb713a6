"""Pure logic of the merge's cycles: settled topics, byte-bounded ranges."""

from __future__ import annotations

import pytest
from cdc_merge.job import CycleState
from cdc_merge.kafka_offsets import size_bounded_end

pytestmark = pytest.mark.unit


def test_a_topic_merged_to_its_high_watermark_is_settled_until_it_grows() -> None:
    state = CycleState()
    marks = {0: (0, 10), 1: (5, 7)}
    state.settle("t", {0: 10, 1: 7}, marks)
    assert state.is_settled("t", marks)
    assert state.is_settled("t", {0: (3, 10), 1: (6, 7)})  # retention moved: nothing new
    assert not state.is_settled("t", {0: (0, 11), 1: (5, 7)})
    assert not state.is_settled("other", marks)


def test_a_topic_left_with_lag_is_not_settled_and_forgets_an_earlier_settlement() -> None:
    state = CycleState()
    marks = {0: (0, 10)}
    state.settle("t", {0: 10}, marks)
    state.settle("t", {0: 8}, {0: (0, 12)})
    assert not state.is_settled("t", {0: (0, 12)})
    assert not state.is_settled("t", marks)


def test_a_new_partition_unsettles_a_topic() -> None:
    state = CycleState()
    state.settle("t", {0: 10}, {0: (0, 10)})
    assert not state.is_settled("t", {0: (0, 10), 1: (0, 0)})


@pytest.mark.parametrize(
    ("sizes", "max_bytes", "expected_end"),
    [
        ({}, 10_000, 100),  # 100-byte records: 10,000 bytes is all of [0, 100)
        ({}, 1_000, 10),
        ({50: 5_000}, 50_000, 10),  # the middle record is large: the largest sampled size rules
        ({0: 10**9}, 1_000, 1),  # a record larger than the bound: still one record per batch
    ],
)
def test_ranges_are_bounded_by_the_largest_sampled_record(
    sizes: dict[int, int], max_bytes: int, expected_end: int
) -> None:
    assert size_bounded_end(0, 100, lambda o: sizes.get(o, 100), max_bytes) == expected_end


def test_a_range_of_one_record_is_never_shrunk_or_sampled() -> None:
    def never(_offset: int) -> int:
        raise AssertionError("sampled")

    assert size_bounded_end(7, 8, never, 1) == 8
