import pytest

from shared import symbols
from shared.symbols import SymbolError


def test_every_code_round_trips_through_decode_and_encode():
    seen = set()
    for code in range(256):
        char_hex, behaviour = symbols.decode(code)
        assert symbols.encode(char_hex, behaviour) == code
        seen.add((char_hex, behaviour))
    assert len(seen) == 256


def test_symbol_fields_follow_the_nibbles():
    sym = symbols.symbol(0x2B)  # Glyph Marrow, behaviour 11 = AS
    assert sym.character.id == "glyph-marrow"
    assert sym.notation == "AS"
    assert sym.orientation is symbols.Orientation.ASK
    assert sym.provenance is symbols.Provenance.SYSTEM
    assert sym.section == 3


def test_behaviour_table_is_orientation_major():
    assert [b.notation for b in symbols.BEHAVIOURS] == [
        "XC", "XP", "XU", "XS", "YC", "YP", "YU", "YS", "AC", "AP", "AU", "AS", "ZC", "ZP", "ZU", "ZS",
    ]
    assert symbols.behaviour_by_notation("zu").index == 14
    assert symbols.BEHAVIOURS[0].label == "Read, Canon"


# The table exactly as the foundation issue gives it: (index, id, display name, colour).
BOOK_CHARACTERS = [
    (0, "an-author", "an author", "#34FF78"), (1, "london-fox", "London Fox", "#FF3B3B"),
    (2, "glyph-marrow", "Glyph Marrow", "#00A2FF"), (3, "phillip-bafflemint", "Phillip Bafflemint", "#FFFF33"),
    (4, "jacklyn-variance", "Jacklyn Variance", "#FF00FF"), (5, "oren-progresso", "Oren Progresso", "#00FFAA"),
    (6, "old-natalie", "Old Natalie Weissman", "#7A3CFF"), (7, "princhetta", "Princhetta", "#AAAAAA"),
    (8, "cop-e-right", "Cop-E-Right", "#FFFFFF"), (9, "new-natalie", "New Natalie Weissman", "#CC66FF"),
    (10, "arieol-owlist", "Arieol Owlist", "#99CCFF"), (11, "jack-parlance", "Jack Parlance", "#FF3385"),
    (12, "manny-valentinas", "Manny Valentinas", "#FFB000"),
    (13, "shamrock-stillman", "Shamrock Stillman", "#00FFFF"),
    (14, "todd-fishbone", "Todd Fishbone", "#FF7744"), (15, "the-author", "The Author", "#BFFF00"),
]


def test_character_table_matches_the_book():
    assert [(c.index, c.id, c.display_name, c.colour) for c in symbols.CHARACTERS] == BOOK_CHARACTERS


def test_section_n_belongs_to_character_n_minus_one():
    for section in range(1, 17):
        assert symbols.character_for_section(section).index == section - 1
    assert symbols.character_by_id("todd-fishbone").section == 15


@pytest.mark.parametrize("bad", [-1, 256, 1000, "3", 1.0, True, None])
def test_out_of_range_codes_are_refused_with_the_reason(bad):
    with pytest.raises(SymbolError, match="symbol_code must be"):
        symbols.symbol(bad)


@pytest.mark.parametrize("call", [lambda: symbols.encode(16, 0), lambda: symbols.encode(0, -1),
                                  lambda: symbols.character_for_section(17), lambda: symbols.character_by_id("x"),
                                  lambda: symbols.behaviour_by_notation("QQ")])
def test_other_lookups_refuse_bad_input(call):
    with pytest.raises(SymbolError):
        call()


def test_manifest_entry_has_what_a_reader_needs():
    entry = symbols.symbol(0xF3).as_manifest_entry()
    assert entry == {
        "symbol_code": 243, "hex": "0xF3", "char_hex": 15, "character": "the-author",
        "character_name": "The Author", "colour": "#BFFF00", "behavior": 3, "notation": "XS",
        "orientation": "X", "provenance": "S", "label": "Read, System", "section": 16,
    }
