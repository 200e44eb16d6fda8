"""The spill file: an ordered, crash-safe FIFO of chunks, owned by one process at a time."""

from __future__ import annotations

from pathlib import Path

from pyctiarbin.logger.sinks import Chunk, SpillFile


def chunk(n: int) -> Chunk:
    return Chunk(
        readings=[("bay1", 1, float(n), None, "Rest")],
        gaps=[("bay1", float(n), None, 1, "timeout")],
        polls=[("bay1", float(n))],
    )


def test_fifo_order_push_front_and_delete(tmp_path: Path) -> None:
    spill = SpillFile(tmp_path / "lab.db.spill")
    assert spill.peek(100) is None and not (tmp_path / "lab.db.spill").exists()
    spill.append([chunk(1), chunk(2)])
    spill.append([chunk(3)])
    spill.push_front([chunk(-1), chunk(0)])
    assert (spill.chunks, spill.rows) == (5, 15)
    peeked = spill.peek(6)  # two chunks of three rows
    assert peeked is not None
    seq, merged = peeked
    assert [row[2] for row in merged.readings] == [-1.0, 0.0]
    spill.delete_through(seq)
    peeked = spill.peek(1000)
    assert peeked is not None
    assert [row[2] for row in peeked[1].readings] == [1.0, 2.0, 3.0]
    assert peeked[1].gaps[0] == ("bay1", 1.0, None, 1, "timeout")
    spill.delete_through(peeked[0])
    assert spill.peek(1000) is None
    spill.close()
    assert not (tmp_path / "lab.db.spill").exists()


def test_left_over_file_is_taken_over_by_the_next_run(tmp_path: Path) -> None:
    path = tmp_path / "spill.sqlite"
    first = SpillFile(path)
    first.append([chunk(1)])
    first.close()
    assert path.exists()
    second = SpillFile(path)
    assert second.open_existing()
    assert (second.chunks, second.rows) == (1, 3)
    peeked = second.peek(10)
    assert peeked is not None
    second.delete_through(peeked[0])
    second.close()
    assert not path.exists()


def test_a_second_process_gets_its_own_file(tmp_path: Path) -> None:
    path = tmp_path / "spill.sqlite"
    owner = SpillFile(path)
    other = SpillFile(path)
    third = SpillFile(path)
    try:
        owner.append([chunk(1)])
        other.append([chunk(2)])
        assert owner.path == path
        assert other.path == tmp_path / "spill.sqlite.1"
        # Both files are owned (locked): a third instance cannot take either over.
        assert third.open_existing() is False
        assert third.path is None
    finally:
        for spill in (owner, other):
            spill.delete_through(10)
            spill.close()
        third.close()
    assert not path.exists()
