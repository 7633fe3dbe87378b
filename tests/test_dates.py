"""Date translation data: the course's renderings and vocabulary sizes, the calendar year, determinism, and the
parallel-text reader and dataset."""

from __future__ import annotations

import datetime

import pytest

pytest.importorskip("faker", reason="faker generates the dates")
pytest.importorskip("babel", reason="babel renders the dates")

from dlzoo.data.dates import (  # noqa: E402
    COURSE_FORMATS,
    DATE_RANGE,
    ParallelTextDataset,
    build_vocabs,
    collate_parallel,
    generate_dates,
    read_parallel_tsv,
    render_date,
)


@pytest.fixture(scope="module")
def pairs():
    return generate_dates(10_000, seed=0)


def test_renderings_match_the_courses_examples():
    """The examples of the course and the issue: '9 may 1998', '10.11.19', 'saturday april 28 1990'."""
    assert render_date(datetime.date(1998, 5, 9), "d MMM y") == "9 may 1998"
    assert render_date(datetime.date(2019, 11, 10), "dd.MM.yy") == "10.11.19"
    assert render_date(datetime.date(1990, 4, 28), "full") == "saturday april 28 1990"
    assert render_date(datetime.date(1990, 4, 28), "short") == "4/28/90"
    assert render_date(datetime.date(1990, 4, 28), "medium") == "apr 28 1990"
    assert len(COURSE_FORMATS) == 24 and COURSE_FORMATS.count("full") == 10


def test_calendar_year_not_week_year():
    """The course's 'YY' is babel's week-based year: 1986-12-30 lies in week 1 of 1987."""
    from babel.dates import format_date

    day = datetime.date(1986, 12, 30)
    assert format_date(day, "dd.MM.YY", locale="en_US") == "30.12.87"  # the course's quirk
    assert render_date(day, "dd.MM.yy") == "30.12.86"
    assert render_date(day, "d MMM y") == "30 dec 1986"


def test_every_source_is_a_rendering_of_its_target(pairs):
    for human, machine in pairs[:3000]:
        day = datetime.date.fromisoformat(machine)
        assert DATE_RANGE[0] <= day <= DATE_RANGE[1]
        assert human in {render_date(day, fmt) for fmt in set(COURSE_FORMATS)}, (human, machine)


def test_vocabularies_are_the_courses(pairs):
    """The course prints a human vocabulary of 37 symbols (35 characters, <unk>, <pad>) and a machine one of
    11; its sources fit Tx = 30 and its targets are Ty = 10 characters."""
    human, machine = build_vocabs(pairs)
    assert human.itos[4:] == list(" ./0123456789abcdefghijlmnoprstuvwy")
    assert len(human.itos[4:]) + 2 == 37
    assert machine.itos[4:] == list("-0123456789")
    assert human.itos[:4] == machine.itos[:4] == ["<pad>", "<unk>", "<bos>", "<eos>"]
    assert max(len(h) for h, _ in pairs) <= 30 and {len(m) for _, m in pairs} == {10}
    full = sum(h.split()[0] in {"monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"}
               for h, _ in pairs)
    assert abs(full / len(pairs) - 10 / 24) < 0.02  # 'full' drawn 10 times in 24


def test_seeded_and_disjoint(pairs):
    assert generate_dates(200, seed=0) == pairs[:200]
    assert generate_dates(200, seed=1) != pairs[:200]
    train = {h for h, _ in pairs}
    held_out = generate_dates(500, seed=1, exclude=train)
    assert len(held_out) == 500 and not train & {h for h, _ in held_out}


def test_parallel_tsv_reader(tmp_path):
    path = tmp_path / "pairs.tsv"
    path.write_text("3 may 1979\t1979-05-03\n\nhello world\tbonjour le monde\r\n", encoding="utf-8")
    assert read_parallel_tsv(path) == [("3 may 1979", "1979-05-03"), ("hello world", "bonjour le monde")]
    path.write_text("ok\tfine\nno tab here\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"pairs.tsv:2"):
        read_parallel_tsv(path)


def test_dataset_and_collate(pairs):
    human, machine = build_vocabs(pairs)
    data = ParallelTextDataset([("3 may 1979!", "1979-05-03"), ("9 may 1998", "1998-05-09")], human, machine)
    src, tgt = data[0]
    assert src[-1] == human.unk_index and "".join(human.decode(src)) == "3 may 1979"
    assert tgt[0] == machine.bos_index and tgt[-1] == machine.eos_index
    assert "".join(machine.decode(tgt)) == "1979-05-03"
    src, src_lengths, tgt, tgt_lengths = collate_parallel([data[0], data[1]])
    assert src.shape == (2, 11) and src_lengths.tolist() == [11, 10] and src[1, 10] == human.pad_index
    assert tgt.shape == (2, 12) and tgt_lengths.tolist() == [12, 12]
    with pytest.raises(ValueError, match="not in the target vocabulary"):
        ParallelTextDataset([("x", "1979/05/03")], human, machine)
