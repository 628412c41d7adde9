"""Nightly cluster summaries: the book grouped into clusters of related pages, with a ~250-word note each.

kmeans.py clusters, note.py writes the extractive note (llm.py the DSPy one), store.py keeps runs behind a
pointer so readers only ever see a complete run, run.py ties them together, clock.py schedules the night.
"""
