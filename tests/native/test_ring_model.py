"""Model-based tests: random push/pop/peek sequences on each ring, checked step by step
against a deque model -- wrap-around, full, empty, both overflow policies."""

from __future__ import annotations

import itertools
import os
from collections import deque

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from vehicle_mw.native import ByteRing, MpmcRing, Overflow, SlotRing, lib

_names = itertools.count()
SLOT = 8
CAP = 8
SETTINGS = settings(max_examples=40, stateful_step_count=60, deadline=None)


def fresh_name() -> str:
    return f"vmw_model_{os.getpid()}_{next(_names)}"


class FixedSlotModel(RuleBasedStateMachine):
    """SlotRing and MpmcRing share the fixed-slot contract; the model is a bounded deque."""

    ring_cls: type[SlotRing] | type[MpmcRing] = SlotRing

    def __init__(self) -> None:
        super().__init__()
        self.counter = itertools.count()
        self.ring: SlotRing | MpmcRing | None = None

    @initialize(overflow=st.sampled_from(list(Overflow)))
    def create(self, overflow: Overflow) -> None:
        self.name = fresh_name()
        self.ring = self.ring_cls.create(self.name, slot_size=SLOT, capacity=CAP, overflow=overflow)
        self.overflow = overflow
        self.model: deque[bytes] = deque()
        self.pushed = self.popped = self.dropped = 0

    def record(self) -> bytes:
        return next(self.counter).to_bytes(SLOT, "little")

    @rule(n=st.integers(0, 2 * CAP + 3))
    def push_batch(self, n: int) -> None:
        recs = [self.record() for _ in range(n)]
        accepted = self.ring.push_batch(b"".join(recs))
        if self.overflow is Overflow.REJECT_NEWEST:
            room = CAP - len(self.model)
            assert accepted == min(n, room)
            self.model.extend(recs[:accepted])
            self.dropped += n - accepted
            self.pushed += accepted
        else:
            assert accepted == n
            for r in recs:
                if len(self.model) == CAP:
                    self.model.popleft()
                    self.dropped += 1
                self.model.append(r)
            if self.ring_cls is SlotRing:  # a batch bigger than the ring skips its oldest part
                self.pushed += min(n, CAP)
            else:
                self.pushed += n

    @rule()
    def push_one(self) -> None:
        rec = self.record()
        ok = self.ring.push(rec)
        full = len(self.model) == CAP
        if self.overflow is Overflow.REJECT_NEWEST:
            assert ok == (not full)
            if ok:
                self.model.append(rec)
                self.pushed += 1
            else:
                self.dropped += 1
        else:
            assert ok
            if full:
                self.model.popleft()
                self.dropped += 1
            self.model.append(rec)
            self.pushed += 1

    @rule(k=st.integers(0, CAP + 2))
    def pop_batch(self, k: int) -> None:
        got = self.ring.pop_batch(k)
        want = [self.model.popleft() for _ in range(min(k, len(self.model)))]
        assert got == b"".join(want)
        self.popped += len(want)

    @rule()
    def pop_into(self) -> None:
        buf = bytearray(3 * SLOT + 5)
        n = self.ring.pop_into(buf)
        want = [self.model.popleft() for _ in range(min(3, len(self.model)))]
        assert n == len(want) and bytes(buf[: n * SLOT]) == b"".join(want)
        self.popped += n

    @precondition(lambda self: self.ring_cls is SlotRing)
    @rule(k=st.integers(1, CAP))
    def peek_release(self, k: int) -> None:
        peek = self.ring.peek(k)
        with peek as mv:
            got = bytes(mv)
        n = len(got) // SLOT
        assert 1 <= n <= k if self.model else n == 0  # contiguous part only: may stop at the wrap
        want = [self.model.popleft() for _ in range(n)]
        assert got == b"".join(want) and peek.intact
        self.popped += n

    @invariant()
    def matches_model(self) -> None:
        if self.ring is None:
            return
        assert len(self.ring) == len(self.model)
        s = self.ring.stats()
        assert (s.popped, s.capacity) == (self.popped, CAP)
        assert s.pushed == self.pushed
        assert s.dropped == self.dropped
        assert s.high_water >= len(self.model)
        assert self.ring.wait(0) == bool(self.model)

    def teardown(self) -> None:
        if self.ring is not None:
            self.ring.close()
            lib.vmw_ring_unlink(self.name.encode())


class MpmcModel(FixedSlotModel):
    ring_cls = MpmcRing


class ByteRingModel(RuleBasedStateMachine):
    """Byte ring vs a deque with the documented space accounting: a record takes
    8 + len rounded up to 8 bytes, plus the bytes skipped when it would straddle the end
    (freed again as soon as the record before the skip is consumed)."""

    CAPACITY = 128

    def __init__(self) -> None:
        super().__init__()
        self.ring: ByteRing | None = None
        self.counter = itertools.count()

    @initialize(overflow=st.sampled_from(list(Overflow)))
    def create(self, overflow: Overflow) -> None:
        self.name = fresh_name()
        self.ring = ByteRing.create(self.name, capacity=self.CAPACITY, overflow=overflow)
        self.overflow = overflow
        self.model: deque[tuple[bytes, int]] = deque()  # (record, position of its header)
        self.head = 0
        self.tail = 0

    def space(self, pos: int, size: int) -> tuple[int, int]:
        rec = 8 + (size + 7) // 8 * 8
        contig = self.CAPACITY - pos % self.CAPACITY
        return (contig if contig < rec else 0), rec

    def model_push(self, data: bytes) -> bool:
        pad, rec = self.space(self.head, len(data))
        while self.CAPACITY - (self.head - self.tail) < pad + rec:
            if self.overflow is Overflow.REJECT_NEWEST:
                return False
            if self.model and self.tail < self.model[0][1]:
                self.tail = self.model[0][1]  # drop a wrap skip: costs no record
                continue
            self.model.popleft()
            self.tail = self.model[0][1] if self.model else self.head
        self.model.append((data, self.head + pad))
        self.head += pad + rec
        return True

    def model_pop(self) -> bytes:
        data, _ = self.model.popleft()
        self.tail = self.model[0][1] if self.model else self.head
        return data

    @rule(sizes=st.lists(st.integers(0, 56), max_size=6))
    def push_batch(self, sizes: list[int]) -> None:
        recs = [bytes([next(self.counter) % 256]) * n for n in sizes]
        accepted = self.ring.push_batch(recs)
        expect = 0
        for r in recs:
            if not self.model_push(r):
                break
            expect += 1
        assert accepted == expect

    @rule(size=st.integers(0, 56), fill=st.integers(0, 255))
    def reserve_commit(self, size: int, fill: int) -> None:
        pad, rec = self.space(self.head, size)
        fits = self.CAPACITY - (self.head - self.tail) >= pad + rec
        if not fits and self.overflow is Overflow.REJECT_NEWEST:
            return
        with self.ring.reserve(size) as w:
            w.view[:] = bytes([fill]) * size
        assert self.model_push(bytes([fill]) * size)

    @rule(k=st.integers(0, 4))
    def pop_batch(self, k: int) -> None:
        got = self.ring.pop_batch(k)
        want = [self.model_pop() for _ in range(min(k, len(self.model)))]
        assert got == want

    @rule()
    def peek_release(self) -> None:
        peek = self.ring.peek()
        with peek as mv:
            got = None if mv is None else bytes(mv)
        assert got == (self.model_pop() if self.model else None)

    @invariant()
    def matches_model(self) -> None:
        if self.ring is not None:
            assert len(self.ring) == len(self.model)
            assert self.ring.wait(0) == bool(self.model)

    def teardown(self) -> None:
        if self.ring is not None:
            self.ring.close()
            lib.vmw_ring_unlink(self.name.encode())


TestSlotRingModel = FixedSlotModel.TestCase
TestSlotRingModel.settings = SETTINGS
TestMpmcRingModel = MpmcModel.TestCase
TestMpmcRingModel.settings = SETTINGS
TestByteRingModel = ByteRingModel.TestCase
TestByteRingModel.settings = SETTINGS
