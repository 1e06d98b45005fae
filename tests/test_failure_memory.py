"""The failure memory: environments whose kernel died young, remembered for a while."""

from __future__ import annotations

from pathlib import Path

from project_kernels.failure_memory import FailureMemory

ENV = Path("/p/.venv")


class Clock:
    def __init__(self) -> None:
        self.now = 50.0

    def __call__(self) -> float:
        return self.now


def test_nothing_is_remembered_at_first() -> None:
    assert not FailureMemory(clock=Clock()).failed_recently(ENV)


def test_a_death_is_remembered_until_the_ttl_has_passed() -> None:
    clock = Clock()
    memory = FailureMemory(ttl=10, clock=clock)
    memory.record(ENV)
    clock.now += 9.9
    assert memory.failed_recently(ENV)
    clock.now += 0.1
    assert not memory.failed_recently(ENV)


def test_forgetting_one_environment_keeps_the_others() -> None:
    memory = FailureMemory(clock=Clock())
    memory.record(ENV)
    memory.record(Path("/q/.venv"))
    memory.forget(ENV)
    assert not memory.failed_recently(ENV)
    assert memory.failed_recently(Path("/q/.venv"))


def test_failed_since_tells_a_new_death_from_an_old_one() -> None:
    clock = Clock()
    memory = FailureMemory(clock=clock)
    memory.record(ENV)
    launched = clock.now + 5
    assert not memory.failed_since(ENV, launched)
    clock.now = launched + 1
    memory.record(ENV)
    assert memory.failed_since(ENV, launched)


def test_two_memories_share_nothing() -> None:
    first, second = FailureMemory(clock=Clock()), FailureMemory(clock=Clock())
    first.record(ENV)
    assert not second.failed_recently(ENV)
