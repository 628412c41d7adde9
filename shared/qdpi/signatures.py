"""DSPy signatures for the four QDPI steps: Read (X), Index (Y), Ask (A), Receive (Z).

Each is a `dspy.Signature` whose docstring is the step's instruction to the model and whose fields carry
descriptions, so ChatAdapter can render them as `[[ ## field ## ]]` sections. Inputs are plain strings or
JSON-able dicts (what a small local model handles reliably); only Index returns structured values.
"""

from __future__ import annotations

import dspy


class Read(dspy.Signature):
    """Read the locus page as the given symbol's character would read it, in that behaviour.
    Render what the page holds for this reading and summarise it. Use only what is on the page."""

    symbol: str = dspy.InputField(desc="who reads and how, e.g. 'London Fox, XC (Read, Canon)'")
    locus: str = dspy.InputField(desc="the page the reader stands on: its title, then its text")
    render: str = dspy.OutputField(desc="the parts of the locus this reading attends to, quoted or closely paraphrased")
    summary: str = dspy.OutputField(desc="two or three sentences on what happens in the locus")


class Index(dspy.Signature):
    """Index a passage: name who and what is in it, its recurring motifs, and short verbatim anchors
    that a continuation could pick up. Score how strongly the passage carries each motif (0 to 1)."""

    text: str = dspy.InputField(desc="the passage to index")
    entities: list[str] = dspy.OutputField(desc="people, places and objects named in the passage")
    motifs: list[str] = dspy.OutputField(desc="recurring images or ideas, one or two words each")
    anchors: list[str] = dspy.OutputField(desc="short phrases copied exactly from the passage")
    scores: dict[str, float] = dspy.OutputField(desc="motif -> strength between 0 and 1")


class Ask(dspy.Signature):
    """Plan the next page. Decide what it does, in the character's voice, along the given trajectory,
    honouring the reader's intent and the constraints. Plan only events the sources allow."""

    state: dict = dspy.InputField(desc="what was read and indexed: summary, entities, motifs, anchors, page titles")
    user_intent: str = dspy.InputField(desc="what the reader asked for; may be empty")
    trajectory: str = dspy.InputField(desc="how the new page relates to the locus (continue, loop back, fork, return)")
    voice: str = dspy.InputField(desc="the character's system prompt: who is speaking and how")
    constraints: dict = dspy.InputField(desc="limits the page must respect: length, behaviour, provenance, grounding")
    plan: str = dspy.OutputField(desc="a short numbered plan for the page: beats, point of view, where it ends")


class Receive(dspy.Signature):
    """Write the page the plan describes, in the character's voice, drawing facts only from the sources.
    Prose only: no headings, no notes about the writing, nothing outside the story."""

    plan: str = dspy.InputField(desc="the plan from the Ask step")
    voice: str = dspy.InputField(desc="the character's system prompt: who is speaking and how")
    sources: str = dspy.InputField(desc="the locus and context pages, each under its title")
    page_text: str = dspy.OutputField(desc="the new page, as prose paragraphs")
    title: str = dspy.OutputField(desc="a title of at most eight words")
