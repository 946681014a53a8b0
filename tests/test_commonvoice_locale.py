"""Common Voice: the locale comes from the folder name, and it must be a locale.

ROOT is the release folder (one sub-folder per locale) or one locale folder. A
folder holding clip lists whose name is not a Common Voice locale (a renamed
download, the release folder itself when its locale folder was flattened into it)
would put that name into every utt_id; it is refused with the fix.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from curate.errors import CurateError
from curate.recipes import engine
from curate.recipes.corpora.commonvoice import is_locale
from curate.recipes.spec import load_recipe

HEADER = "client_id\tpath\tsentence\tup_votes\tdown_votes\tage\tgender\taccents\tlocale\tsegment\n"


def _locale(folder: Path, locale: str, clips: int = 2) -> Path:
    """A locale folder with a validated.tsv of ``clips`` clips (no audio: missing)."""
    folder.mkdir(parents=True, exist_ok=True)
    lines = "".join(f"c{i}\tcommon_voice_{locale}_{i:06d}.mp3\tzdanie {i}\t2\t0\t\tmale\t\t"
                    f"{locale}\t\n" for i in range(clips))
    (folder / "validated.tsv").write_text(HEADER + lines, encoding="utf-8")
    return folder


def _read(root: Path):
    return engine.read_corpus(load_recipe("commonvoice"), root).set_index("utt_id")


@pytest.mark.parametrize("name", ["en", "pl", "ca", "zh-CN", "zh-HK", "sv-SE", "rm-sursilv",
                                  "rm-vallader", "nan-tw", "kab", "cnh", "ga-IE", "fy-NL",
                                  "yue", "tok"])
def test_common_voice_locales_are_locales(name):
    assert is_locale(name)


@pytest.mark.parametrize("name", ["cv_pl", "cv-corpus-17.0-2024-03-15", "Polish", "english",
                                  "PL", "xx-YY", "clips", "pl_PL", "data", "pl-", "-pl", "",
                                  "zh-CN-x", "1pl"])
def test_other_folder_names_are_not(name):
    assert not is_locale(name)


def test_a_release_folder_of_locales_reads_every_locale(tmp_path):
    release = tmp_path / "cv-corpus-17.0-2024-03-15"
    for locale in ("pl", "zh-CN", "sv-SE", "rm-sursilv", "nan-tw"):
        _locale(release / locale, locale)
    rows = _read(release)
    assert Counter(rows["language"]) == {"pol": 2, "cmn": 2, "swe": 2, "roh": 2, "nan": 2}
    assert "commonvoice:zh-CN/common_voice_zh-CN_000001" in rows.index
    assert rows.loc["commonvoice:pl/common_voice_pl_000000", "path"] == \
        "pl/clips/common_voice_pl_000000.mp3"


def test_one_locale_folder_as_root(tmp_path):
    rows = _read(_locale(tmp_path / "cv-corpus-17.0-2024-03-15" / "sv-SE", "sv-SE"))
    assert set(rows["language"]) == {"swe"}
    assert rows.index[0].startswith("commonvoice:sv-SE/")
    assert rows["path"].str.startswith("clips/").all()


@pytest.mark.parametrize("name", ["cv_pl", "cv-corpus-17.0-2024-03-15", "Polish"])
def test_a_root_that_is_not_a_locale_folder_is_refused(tmp_path, name):
    root = _locale(tmp_path / name, "pl")  # the TSVs flattened into a renamed folder
    with pytest.raises(CurateError) as err:
        _read(root)
    message = str(err.value)
    assert message == (f"{root}: ROOT folder {name!r} is not a locale folder (Common Voice "
                       f"names them by locale: en, pl, zh-CN, sv-SE, ...); point ROOT at the "
                       f"release or a locale folder")


def test_a_non_locale_folder_in_the_release_is_refused(tmp_path):
    release = tmp_path / "cv-corpus-17.0-2024-03-15"
    _locale(release / "pl", "pl")
    _locale(release / "pl_backup", "pl")
    (release / "notes").mkdir()  # a folder without clip lists is not read at all
    with pytest.raises(CurateError, match=r"pl_backup: folder in ROOT 'pl_backup' is not a "
                                          r"locale folder .*; point ROOT at the release or a "
                                          r"locale folder$"):
        _read(release)
