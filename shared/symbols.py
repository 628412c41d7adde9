"""The 256-symbol system: `symbol = (character << 4) | behaviour`.

The left nibble picks one of the 16 characters, the right nibble one of 16 behaviours, which are the
4 orientations (X Read, Y Index, A Ask, Z Receive) crossed with the 4 provenances (C Canon, P Parallel,
U User, S System), in that order: XC, XP, XU, XS, YC, ... ZS. Section n (1..16) belongs to character n-1.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from functools import lru_cache

SYMBOL_COUNT = 256
SECTION_COUNT = 16


class Orientation(str, Enum):
    READ = "X"
    INDEX = "Y"
    ASK = "A"
    RECEIVE = "Z"

    @property
    def verb(self) -> str:
        return _ORIENTATION_VERBS[self]


class Provenance(str, Enum):
    CANON = "C"
    PARALLEL = "P"
    USER = "U"
    SYSTEM = "S"

    @property
    def label(self) -> str:
        return _PROVENANCE_LABELS[self]


_ORIENTATION_VERBS = {
    Orientation.READ: "Read",
    Orientation.INDEX: "Index",
    Orientation.ASK: "Ask",
    Orientation.RECEIVE: "Receive",
}
_PROVENANCE_LABELS = {
    Provenance.CANON: "Canon",
    Provenance.PARALLEL: "Parallel",
    Provenance.USER: "User",
    Provenance.SYSTEM: "System",
}
_ORIENTATIONS = tuple(Orientation)
_PROVENANCES = tuple(Provenance)


class Trajectory(str, Enum):
    """How a generated page relates to where the reader stands."""

    CONTINUE = "T0"  # continue along the ring
    LOOP_BACK = "T1"  # return to an earlier page
    FORK = "T2"  # open a branch
    RETURN = "T3"  # a branch that must come home (TTL / return debt)


@dataclass(frozen=True)
class Character:
    index: int
    id: str
    display_name: str
    colour: str

    @property
    def section(self) -> int:
        return self.index + 1


CHARACTERS: tuple[Character, ...] = tuple(
    Character(i, cid, name, colour)
    for i, (cid, name, colour) in enumerate(
        [
            ("an-author", "an author", "#34FF78"),
            ("london-fox", "London Fox", "#FF3B3B"),
            ("glyph-marrow", "Glyph Marrow", "#00A2FF"),
            ("phillip-bafflemint", "Phillip Bafflemint", "#FFFF33"),
            ("jacklyn-variance", "Jacklyn Variance", "#FF00FF"),
            ("oren-progresso", "Oren Progresso", "#00FFAA"),
            ("old-natalie", "Old Natalie Weissman", "#7A3CFF"),
            ("princhetta", "Princhetta", "#AAAAAA"),
            ("cop-e-right", "Cop-E-Right", "#FFFFFF"),
            ("new-natalie", "New Natalie Weissman", "#CC66FF"),
            ("arieol-owlist", "Arieol Owlist", "#99CCFF"),
            ("jack-parlance", "Jack Parlance", "#FF3385"),
            ("manny-valentinas", "Manny Valentinas", "#FFB000"),
            ("shamrock-stillman", "Shamrock Stillman", "#00FFFF"),
            ("todd-fishbone", "Todd Fishbone", "#FF7744"),
            ("the-author", "The Author", "#BFFF00"),
        ]
    )
)
_CHARACTERS_BY_ID = {c.id: c for c in CHARACTERS}


@dataclass(frozen=True)
class Behaviour:
    index: int
    orientation: Orientation
    provenance: Provenance

    @property
    def notation(self) -> str:
        return f"{self.orientation.value}{self.provenance.value}"

    @property
    def label(self) -> str:
        return f"{self.orientation.verb}, {self.provenance.label}"


BEHAVIOURS: tuple[Behaviour, ...] = tuple(
    Behaviour(i, _ORIENTATIONS[i >> 2], _PROVENANCES[i & 0b11]) for i in range(16)
)
_BEHAVIOURS_BY_NOTATION = {b.notation: b for b in BEHAVIOURS}


class SymbolError(ValueError):
    """A symbol, character, behaviour or section outside the 256-symbol system."""


@dataclass(frozen=True)
class Symbol:
    code: int
    character: Character
    behaviour: Behaviour

    @property
    def notation(self) -> str:
        return self.behaviour.notation

    @property
    def orientation(self) -> Orientation:
        return self.behaviour.orientation

    @property
    def provenance(self) -> Provenance:
        return self.behaviour.provenance

    @property
    def section(self) -> int:
        return self.character.section

    def as_manifest_entry(self) -> dict[str, object]:
        return {
            "symbol_code": self.code,
            "hex": f"0x{self.code:02X}",
            "char_hex": self.character.index,
            "character": self.character.id,
            "character_name": self.character.display_name,
            "colour": self.character.colour,
            "behavior": self.behaviour.index,
            "notation": self.notation,
            "orientation": self.orientation.value,
            "provenance": self.provenance.value,
            "label": self.behaviour.label,
            "section": self.section,
        }


def _check_nibble(value: int, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise SymbolError(f"{what} must be an integer 0..15, got {value!r}")
    if not 0 <= value <= 15:
        raise SymbolError(f"{what} must be 0..15, got {value}")
    return value


def encode(char_hex: int, behaviour: int) -> int:
    """Pack a character index and a behaviour index into a symbol code."""
    return (_check_nibble(char_hex, "character") << 4) | _check_nibble(behaviour, "behaviour")


def decode(code: int) -> tuple[int, int]:
    """Split a symbol code into (character index, behaviour index)."""
    check_code(code)
    return code >> 4, code & 0xF


def check_code(code: int) -> int:
    if isinstance(code, bool) or not isinstance(code, int):
        raise SymbolError(f"symbol_code must be an integer 0..255, got {code!r}")
    if not 0 <= code < SYMBOL_COUNT:
        raise SymbolError(f"symbol_code must be 0..255, got {code}")
    return code


@lru_cache(maxsize=SYMBOL_COUNT)
def symbol(code: int) -> Symbol:
    char_hex, behaviour = decode(code)
    return Symbol(code, CHARACTERS[char_hex], BEHAVIOURS[behaviour])


def all_symbols() -> tuple[Symbol, ...]:
    return tuple(symbol(code) for code in range(SYMBOL_COUNT))


def character_by_id(character_id: str) -> Character:
    try:
        return _CHARACTERS_BY_ID[character_id]
    except KeyError:
        raise SymbolError(f"unknown character id {character_id!r}") from None


def behaviour_by_notation(notation: str) -> Behaviour:
    try:
        return _BEHAVIOURS_BY_NOTATION[notation.upper()]
    except KeyError:
        raise SymbolError(f"unknown behaviour {notation!r}; expected one of XC..ZS") from None


def character_for_section(section: int) -> Character:
    if isinstance(section, bool) or not isinstance(section, int) or not 1 <= section <= SECTION_COUNT:
        raise SymbolError(f"section must be 1..{SECTION_COUNT}, got {section!r}")
    return CHARACTERS[section - 1]
