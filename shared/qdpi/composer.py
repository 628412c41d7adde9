"""The deterministic canon composer: the writer used when no LLM answers.

It invents nothing. Every sentence of a page is copied verbatim from the locus or the context pages; the
only other text is at most one framing line in square brackets (Y lists motifs taken from those pages, A
frames the reader's question, an empty request names the character and section). Choices are seeded by
sha256(request_event_id | symbol code), never by `random`, so one request always yields the same bytes.

Trajectory picks the pages: T0 opens with the locus's last sentence and draws on the context (the next
page leads); T1 opens with an earlier context page's first sentence; T2 forks to one context page and
leaves the locus out; T3 draws on the context and closes on the locus's first sentence. Orientation picks
the sentences: X reads on in order from the best paragraph opening, Y lists motifs then the sentences that
carry them, A frames the question then answers with the sentences closest to it, Z takes the best-scored
sentences in reading order. Provenance weights the score: C near the locus, P farther pages, U the
reader's words, S page openings. Whole sentences are kept while they fit max_words.
"""

from __future__ import annotations

import hashlib
import re
from collections import Counter
from dataclasses import dataclass
from typing import Iterable, Sequence

from shared.qdpi.contract import GeneratedPage, GenerationRequest, SourcePage
from shared.symbols import Orientation, Provenance, Trajectory

GENERATOR = "canon-composer"
_FOCUS = 1.5  # score bonus for the page the trajectory is about: it outweighs provenance bonus + seed (< 2)
FRAME_OPEN, FRAME_CLOSE = "[", "]"
_SENTENCE = re.compile(r"\S.*?(?:[.!?…]+[\"”’')\]]*(?=\s+[\"“‘(\[]?[A-Z0-9]|\s*$)|$)", re.S)
_PARAGRAPH = re.compile(r"\n\s*\n")
_WORD = re.compile(r"[a-z][a-z'’-]+")
_STOP = frozenset(
    "about above after again against also among another back been before being below between both could does "
    "doing down during each even every from further have having here into itself just like made make many more "
    "most much must never next nothing once only other over same says should since some such than that their "
    "them then there these they thing this those through under until upon very want were what when where which "
    "while whom whose will with without would your yours she's he's it's that's".split()
)


@dataclass(frozen=True)
class Sentence:
    page: int  # index into the source tuple (the locus, when present, is 0)
    para: int
    pos: int  # index of the sentence within its page
    text: str

    @property
    def words(self) -> int:
        return len(self.text.split())


def split_sentences(text: str) -> list[str]:
    """Sentences exactly as written (inner whitespace kept), paragraph by paragraph."""
    return [m.group(0).strip() for para in _PARAGRAPH.split(text) for m in _SENTENCE.finditer(para)]


def content_words(text: str) -> list[str]:
    """Lower-case words of four letters or more that are not stop words: the unit of overlap and motifs."""
    return [w.strip("'’-") for w in _WORD.findall(text.lower()) if len(w) >= 4 and w not in _STOP]


def grounding_score(text: str, sources: Iterable[SourcePage]) -> float:
    """Share of the text's distinct content words that occur in the source pages (0..1; 0 if either is empty)."""
    words = set(content_words(text))
    vocabulary = {w for page in sources for w in content_words(page.text)}
    return round(len(words & vocabulary) / len(words), 3) if words and vocabulary else 0.0


def source_pages(request: GenerationRequest) -> tuple[SourcePage, ...]:
    """The locus first (when it has text), then context pages with text, each page id once."""
    pages, seen = [], set()
    for page in ((request.locus,) if request.locus else ()) + tuple(request.context):
        if page.text.strip() and page.page_id not in seen:
            seen.add(page.page_id)
            pages.append(page)
    return tuple(pages)


def compose_from_canon(request: GenerationRequest) -> GeneratedPage:
    """Build a page from canon sentences, shaped by trajectory (which pages, what order) and behaviour."""
    pages = source_pages(request)
    if not pages:
        return _empty_page(request)
    seed = hashlib.sha256(f"{request.request_event_id}|{request.symbol.code}".encode()).digest()
    has_locus = request.locus is not None and pages[0].page_id == request.locus.page_id
    by_page = [_sentences(i, page.text) for i, page in enumerate(pages)]
    opening, pool, closing, title, focus = _shape(request, pages, by_page, has_locus, seed)
    scores = {
        s: _FOCUS * (s.page == focus) + _provenance_bonus(request, s, len(pages), by_page) + _unit(seed, s.page, s.pos)
        for s in pool
    }
    frame, ranked, keep_order = _orient(request, pages, pool, scores, seed)
    frame, opening, body, closing = _fit(max(1, request.max_words), frame, opening, ranked, closing)
    if keep_order:
        body.sort(key=lambda s: (s.page != focus, s.page, s.pos))  # the trajectory's page leads
    paragraphs = ([frame] if frame else []) + _layout(opening) + _layout(body, keep_order) + _layout(closing)
    text = "\n\n".join(paragraphs)
    used = sorted({pages[s.page].page_id for s in opening + body + closing})
    notes = _notes(request, sources=",".join(used), seed=seed.hex()[:12])
    style_ok = bool(text.strip()) and _words(text) <= max(1, request.max_words)
    return GeneratedPage(title, text, GENERATOR, style_ok, grounding_score(text, pages), notes)


def _fit(
    budget: int, frame: str, opening: list[Sentence], ranked: list[Sentence], closing: list[Sentence]
) -> tuple[str, list[Sentence], list[Sentence], list[Sentence]]:
    """Spend the word budget: the frame (if it takes at most half), then opening and closing whole, then the
    ranked sentences that still fit. If no whole sentence fits, a verbatim prefix of the best one."""
    frame = frame if _words(frame) <= budget // 2 else ""
    budget -= _words(frame)
    kept: list[list[Sentence]] = []
    for block in (opening, closing):
        size = sum(s.words for s in block)
        kept.append(block if size <= budget else [])
        budget -= size if size <= budget else 0
    body = []
    for s in ranked:
        if s.words <= budget:
            body.append(s)
            budget -= s.words
    candidates = ranked or opening or closing
    if not body and not any(kept) and candidates:
        best = candidates[0]
        body = [Sentence(best.page, best.para, best.pos, _prefix_words(best.text, max(1, budget)))]
    return frame, kept[0], body, kept[1]


def _sentences(page: int, text: str) -> list[Sentence]:
    out: list[Sentence] = []
    for para, chunk in enumerate(_PARAGRAPH.split(text)):
        start = len(out)
        found = [m.group(0).strip() for m in _SENTENCE.finditer(chunk)]
        out.extend(Sentence(page, para, start + i, text) for i, text in enumerate(found))
    return out


def _shape(
    request: GenerationRequest, pages: Sequence[SourcePage], by_page: list[list[Sentence]], has_locus: bool, seed: bytes
) -> tuple[list[Sentence], list[Sentence], list[Sentence], str, int | None]:
    """(opening, pool, closing, title, focus page): where the page starts, what it draws on, where it ends.
    A page to loop back or fork to is drawn by the seed; with U provenance, by the reader's words first."""
    trajectory, locus = request.trajectory, (0 if has_locus else None)
    user = request.symbol.provenance is Provenance.USER

    def choose(salt: str, options: Sequence[int]) -> int:
        return min(options, key=lambda i: (-user * _overlap(pages[i].text, request.user_intent), _unit(seed, salt, i)))

    others = [i for i in range(len(pages)) if i != locus]
    home = pages[locus if locus is not None else 0]
    flat = lambda idx: [s for i in idx for s in by_page[i]]  # noqa: E731
    if trajectory is Trajectory.LOOP_BACK:  # T1: back to an earlier page's opening
        earlier = [i for i in others if locus is None or pages[i].page_id < home.page_id] or others or [0]
        pick = choose("loop", earlier)
        rest = by_page[pick][1:] + (by_page[locus] if locus is not None and pick != locus else [])
        return by_page[pick][:1], rest, [], f"Back to {pages[pick].title}", pick
    if trajectory is Trajectory.FORK:  # T2: another thread, taken from the context, not the locus
        thread = choose("fork", others or [0])
        pool = by_page[thread] + flat(i for i in others if i != thread)
        return [], pool, [], f"Fork: {pages[thread].title}", thread
    if trajectory is Trajectory.RETURN:  # T3: out along the context, home to the locus's opening
        closing = by_page[locus][:1] if locus is not None else []
        pool = flat(others) or (by_page[locus][1:] if locus is not None else [])
        return [], pool, closing, f"Return to {home.title}", None
    opening = by_page[locus][-1:] if locus is not None else []  # T0: on from the end of the locus
    pool = flat(others) or (by_page[locus][:-1] if locus is not None else [])
    return opening, pool, [], f"After {home.title}", (others[0] if others else None)


def _provenance_bonus(request: GenerationRequest, s: Sentence, n_pages: int, by_page: list[list[Sentence]]) -> float:
    """C stays near the locus, P drifts to farther pages, U follows the reader's words, S keeps openings."""
    provenance = request.symbol.provenance
    if provenance is Provenance.CANON:
        return 1.0 - s.page / n_pages
    if provenance is Provenance.PARALLEL:
        return s.page / n_pages
    if provenance is Provenance.USER:
        return min(1.0, _overlap(s.text, request.user_intent) / 3)
    return 1.0 - s.pos / max(1, len(by_page[s.page]))


def _orient(
    request: GenerationRequest,
    pages: Sequence[SourcePage],
    pool: list[Sentence],
    scores: dict[Sentence, float],
    seed: bytes,
) -> tuple[str, list[Sentence], bool]:
    """(frame line, sentences by preference, restore source order?) for X/Y/A/Z."""
    orientation, name = request.symbol.orientation, request.character.display_name
    ranked = sorted(pool, key=lambda s: (-scores[s], s.page, s.pos))
    if orientation is Orientation.READ:  # read on from the best paragraph opening, in order, skipping misfits
        starts = [s for i, s in enumerate(pool) if i == 0 or (s.page, s.para) != (pool[i - 1].page, pool[i - 1].para)]
        start = pool.index(max(starts, key=lambda s: (scores[s], -s.page, -s.pos))) if starts else 0
        return "", pool[start:], True
    if orientation is Orientation.INDEX:  # a short list of motifs, then the sentences that carry them
        motifs = _motifs(pages, seed)
        hits = lambda s: len(set(content_words(s.text)) & set(motifs))  # noqa: E731
        carriers = sorted((s for s in pool if hits(s)), key=lambda s: (-hits(s) - scores[s], s.page, s.pos))
        frame = f"{FRAME_OPEN}Index: {' · '.join(motifs)}{FRAME_CLOSE}" if motifs else ""
        return frame, carriers or ranked, False
    if orientation is Orientation.ASK:  # the reader's question, answered only with canon sentences
        intent = " ".join(request.user_intent.split()).rstrip("?.! ")
        question = f"{name} asks: {intent}?" if intent else f"{name} asks what the canon holds."
        asked = sorted(pool, key=lambda s: (-_overlap(s.text, request.user_intent) - scores[s], s.page, s.pos))
        return f"{FRAME_OPEN}{question}{FRAME_CLOSE}", asked, True
    return "", ranked, True  # Z receives: the best-scored sentences, back in reading order


def _motifs(pages: Sequence[SourcePage], seed: bytes, limit: int = 4) -> list[str]:
    counts = Counter(w for page in pages for w in content_words(page.text))
    return sorted(counts, key=lambda w: (-counts[w], _unit(seed, w)))[:limit]


def _layout(sentences: list[Sentence], flowing: bool = True) -> list[str]:
    """Join neighbours from the same source paragraph; anything else starts a new paragraph."""
    paragraphs: list[list[Sentence]] = []
    for s in sentences:
        prev = paragraphs[-1][-1] if paragraphs else None
        if flowing and prev and (prev.page, prev.para, prev.pos + 1) == (s.page, s.para, s.pos):
            paragraphs[-1].append(s)
        else:
            paragraphs.append([s])
    return [" ".join(s.text for s in group) for group in paragraphs]


def _empty_page(request: GenerationRequest) -> GeneratedPage:
    name, section = request.character.display_name, request.character.section
    line = f"{FRAME_OPEN}{name}, section {section}: no canon page was available to draw on.{FRAME_CLOSE}"
    text = _prefix_words(line, max(1, request.max_words))
    notes = _notes(request, empty="no locus or context text")
    return GeneratedPage(f"{name}, section {section}", text, GENERATOR, True, 0.0, notes)


def _notes(request: GenerationRequest, **extra: str) -> dict[str, str]:
    return {"trajectory": request.trajectory.value, "behaviour": request.symbol.notation, **extra}


def _unit(seed: bytes, *parts: object) -> float:
    digest = hashlib.sha256(seed + "|".join(map(str, parts)).encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def _overlap(text: str, intent: str) -> int:
    return len(set(content_words(text)) & set(content_words(intent)))


def _words(text: str) -> int:
    return len(text.split())


def _prefix_words(text: str, n: int) -> str:
    """The first n words, cut from the original string so the prefix stays verbatim."""
    spans = list(re.finditer(r"\S+", text))
    return text if len(spans) <= n else text[: spans[n - 1].end()]
