"""The card formats: one splitter shared by reader and writer, and write-then-read round trips."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from dia.errors import CardError
from dia.hub.card import merge_card
from dia.hub.formats import CardData, dia_block, frontmatter, hf, parse_card_text, v01
from dia.record.report import RunReport

MakeRun = Callable[..., RunReport]

META = {"co2_eq_emissions": {"emissions": 12.5}, "dia": {"schema_version": "1.0", "energy_kwh": 0.5}}

# (name, card) pairs where a naive splitter and a careful one could disagree.
CARDS = [
    ("crlf", "---\r\nlicense: mit\r\ntags:\r\n  - a\r\n---\r\n# Title\r\n\r\nText.\r\n"),
    ("blank lines before the fence", "\n\n---\nlicense: mit\n---\n# Title\n"),
    ("bom", "\ufeff---\nlicense: mit\n---\n# Title\n"),
    ("--- inside a YAML string", "---\nlicense: mit\ndescription: |\n  part one\n  ---\n  part two\n"
                                 "title: 'a --- b'\n---\n# Title\n---\nA rule in the body.\n"),
    ("spaces after the fences", "---  \nlicense: mit\n--- \n# Title\n"),
    ("blank lines inside", "---\n\nlicense: mit\n\n---\n# Title\n"),
    ("fence at the end", "---\nlicense: mit\n---"),
    ("empty front matter", "---\n---\n# Title\n"),
]


@pytest.mark.parametrize(("name", "text"), CARDS, ids=[n for n, _ in CARDS])
def test_split_and_join_give_back_the_card_byte_for_byte(name: str, text: str) -> None:
    parts = frontmatter.split(text, "README.md")
    assert parts is not None
    assert parts.head + parts.yaml + parts.fence + parts.body == text
    assert parts.fence.rstrip("\r\n").rstrip(" \t") == "---"
    line_break = "\r\n" if "\r\n" in text else "\n"
    if parts.fence == "---" + line_break:
        assert frontmatter.join(parts.head, parts.yaml, parts.body, line_break) == text


@pytest.mark.parametrize(("name", "text"), CARDS, ids=[n for n, _ in CARDS])
def test_writer_and_reader_agree_on_where_the_front_matter_ends(name: str, text: str) -> None:
    before = frontmatter.split(text, "README.md")
    assert before is not None
    old = frontmatter.load_yaml(before.yaml, "README.md")
    merged = merge_card(text, META, section=False)
    after = frontmatter.split(merged, "README.md")
    assert after is not None
    # The writer replaced the front matter the reader sees and nothing else.
    assert after.head == before.head and after.body == before.body
    assert merged.count("co2_eq_emissions") == 1
    read = frontmatter.read(merged, "README.md")
    assert read == {**old, **META}
    assert "\n" not in merged.replace("\r\n", "") if "\r\n" in text else "\r" not in merged
    assert merge_card(merged, META, section=False) == merged  # idempotent
    card = parse_card_text(merged, model_id="org/x", source_ref="org/x/README.md")
    assert card.format == "dia" and card.reports[0].energy.it_kwh.value == 0.5


def test_a_card_without_front_matter_gets_one_and_keeps_its_text() -> None:
    text = "# Title\n\n--- \nnot front matter\n"
    assert frontmatter.split(text, "README.md") is None
    merged = merge_card(text, META, section=False)
    parts = frontmatter.split(merged, "README.md")
    assert parts is not None and parts.head == "---\n" and parts.body == text
    assert frontmatter.load_yaml(parts.yaml, "README.md") == META


def test_an_unclosed_front_matter_is_refused_by_reader_and_writer_alike() -> None:
    text = "---\nlicense: mit\n# Title, and no closing fence\n"
    with pytest.raises(CardError, match="not closed"):
        parse_card_text(text, model_id="org/x", source_ref="README.md")
    with pytest.raises(CardError, match="not closed"):
        merge_card(text, META)


def test_dump_yaml_is_what_load_yaml_reads_back_with_the_line_break_asked() -> None:
    data = {"b": [1, 2.5], "a": {"text": "--- é ---", "none": None}}
    text = frontmatter.dump_yaml(data, "\r\n")
    assert text.endswith("\r\n") and "\n" not in text.replace("\r\n", "")
    assert list(frontmatter.load_yaml(text, "x")) == ["b", "a"]  # key order kept
    assert frontmatter.load_yaml(text, "x") == data


# -- per-format round trips: write from the store's data, read back -------------------------------

def _data(make_run: MakeRun, **kw: object) -> CardData:
    run = make_run("org/child", 2.0, parents=["org/base:lora"], kind="adapter", **kw)
    parents = [{"model_id": "org/base", "relation": "adapter", "method": "lora"}]
    return CardData("org/child", [run], parents)


def _read(meta: dict[str, object]) -> RunReport:
    text = frontmatter.join("", frontmatter.dump_yaml(meta), "# Card\n")
    card = parse_card_text(text, model_id=None, source_ref="org/child/README.md")
    assert card.model_id == "org/child"  # the dia block names its model
    return card.reports[0]


def test_hf_round_trip(run_factory: MakeRun) -> None:
    data = _data(run_factory)
    meta = hf.write(data)
    assert set(meta) <= set(hf.KEYS)
    text = frontmatter.join("", frontmatter.dump_yaml(meta), "")
    card = parse_card_text(text, model_id="org/child", source_ref="org/child/README.md")
    assert card.format == hf.NAME
    report = card.reports[0]
    own = data.own
    assert own.carbon is not None and own.energy is not None
    assert report.carbon is not None
    assert report.carbon.total_kg.value == pytest.approx(own.carbon.value, rel=1e-5)
    assert report.energy.it_kwh.value == pytest.approx(own.energy.value, rel=1e-5)
    assert report.hardware.gpu_count == 4
    assert [(p.model_id, p.relation.value) for p in card.parents] == [("org/base", "adapter")]


def test_dia_block_round_trip_keeps_ranges_quality_and_parts(run_factory: MakeRun) -> None:
    data = _data(run_factory)
    meta = dia_block.write(data)
    assert set(meta) == set(dia_block.KEYS)
    report = _read(meta)
    own = data.own
    assert own.energy is not None and own.embodied is not None and own.water is not None
    got = report.energy.it_kwh
    assert (got.low, got.value, got.high) == pytest.approx((own.energy.low, own.energy.value, own.energy.high))
    assert got.quality is own.energy.quality
    assert report.carbon is not None and report.carbon.embodied_kg is not None
    assert report.carbon.embodied_kg.value == pytest.approx(own.embodied.value)
    assert report.water is not None and report.water.total_l.high == pytest.approx(own.water.high)
    assert [(p.model_id, p.relation.value, p.method) for p in report.parents] == [("org/base", "adapter", "lora")]
    assert {f.name for f in report.factors} == {"carbon_intensity"}


def test_v01_round_trip_keeps_ranges_lineage_and_context(run_factory: MakeRun) -> None:
    data = _data(run_factory)
    meta = v01.write(data)
    assert set(meta) == set(v01.KEYS)
    text = frontmatter.join("", frontmatter.dump_yaml(meta), "")
    card = parse_card_text(text, model_id="org/child", source_ref="org/child/README.md")
    assert card.format == v01.NAME
    report = card.reports[0]
    own = data.own
    assert own.energy is not None and own.carbon is not None
    got = report.energy.it_kwh
    assert (got.low, got.high) == pytest.approx((own.energy.low, own.energy.high))
    assert report.carbon is not None and report.carbon.total_kg.low == pytest.approx(own.carbon.low)
    assert [(p.model_id, p.relation.value, p.method) for p in card.parents] == [("org/base", "adapter", "lora")]
    assert meta["dia_report"]["context"]["region"] == "ca-on"  # v0.1's own field, as v0.1 readers see it
    # DIA's extension brings the place back as it was stored (a country stays a country)
    assert (report.location.country, report.location.region) == ("CAN", "CA-ON")
    assert report.gpu_hours == pytest.approx(4.0)
    assert {f.name: f.value for f in report.factors} == {"carbon_intensity": 0.25}


@pytest.mark.parametrize("x", [float("inf"), float("-inf"), float("nan")])
def test_a_non_finite_figure_is_refused_never_written_as_zero(x: float) -> None:
    from dia.errors import CardError
    from dia.hub.formats._common import rounded

    with pytest.raises(CardError, match="not finite"):
        rounded(x)
