"""Metadata readers: real-file quirks and file:line errors."""

from __future__ import annotations

import pytest

from curate.errors import CurateError
from curate.recipes.readers import read_table


def test_quoting_off_keeps_leading_quotes(tmp_path):
    path = tmp_path / "validated.tsv"
    path.write_text('client_id\tpath\tsentence\nc1\ta.mp3\t"Tak," powiedział.\nc2\tb.mp3\tNie\n')
    frame = read_table(path, delimiter="\t", quoting=False)
    assert list(frame["sentence"]) == ['"Tak," powiedział.', "Nie"]


def test_crlf_bom_quoted_tabs_and_pipes(tmp_path):
    path = tmp_path / "meta.csv"
    path.write_bytes(b'\xef\xbb\xbfID\tName\r\n"id1"\t"A\tB"\r\n\r\nid2\tC\r\n')
    frame = read_table(path, delimiter="\t")
    assert list(frame.columns) == ["ID", "Name"]
    assert list(frame["Name"]) == ["A\tB", "C"]
    pipes = tmp_path / "metadata.csv"
    pipes.write_text("f1|text one|text 1\nf2|two|two\n")
    frame = read_table(pipes, delimiter="|", header=False, names=["file", "text", "norm"])
    assert frame.shape == (2, 3) and frame.iloc[0]["norm"] == "text 1"


def test_malformed_line_is_reported_with_file_and_line(tmp_path):
    path = tmp_path / "proto.txt"
    path.write_text("S1 U1 - - bonafide\nS1 U2 - A01\nS1 U3 - A01 spoof\n")
    with pytest.raises(CurateError, match=r"proto.txt:2: expected 5 fields, found 4"):
        read_table(path, delimiter=" ", header=False, names=list("abcde"))
    frame = read_table(path, delimiter=" ", header=False, names=list("abcde"), min_fields=4)
    assert frame.iloc[1]["e"] == ""


def test_extra_fields_merge_or_drop(tmp_path):
    path = tmp_path / "m.csv"
    path.write_text("a,b\n1,x,y\n")
    with pytest.raises(CurateError, match=r"m.csv:2: expected 2 fields, found 3"):
        read_table(path)
    assert read_table(path, extra="merge").iloc[0]["b"] == "x,y"
    assert read_table(path, extra="drop").iloc[0]["b"] == "x"


def test_unclosed_quote_is_a_clear_error(tmp_path):
    path = tmp_path / "q.csv"
    path.write_text('a,b\n1,"open\n')
    with pytest.raises(CurateError, match=r"q.csv:\d+: .*quoting off"):
        read_table(path)


def test_unclosed_quote_names_the_line_it_opens_on(tmp_path):
    path = tmp_path / "q.csv"
    path.write_text('a,b\n1,x\n2,"open\n3,y\n4,z\n')
    with pytest.raises(CurateError, match=r"q.csv:3: a quote opened on this line is never "
                                          r"closed; remove the stray quote"):
        read_table(path)


def test_skip_and_quotechar_keep_line_numbers(tmp_path):
    path = tmp_path / "s.csv"
    path.write_text("exported by a tool\n\nid;text\n1;'a;b'\n2\n")
    with pytest.raises(CurateError, match=r"s.csv:5: expected 2 fields, found 1"):
        read_table(path, delimiter=";", quotechar="'", skip=2)
    path.write_text("exported by a tool\n\nid;text\n1;'a;b'\n")
    frame = read_table(path, delimiter=";", quotechar="'", skip=2)
    assert list(frame.columns) == ["id", "text"] and frame.iloc[0]["text"] == "a;b"
