"""The canon: reading a corpus in the Gibsey layout, normalising its metadata, writing it to Cassandra."""

from shared.canon.corpus import CorpusError, load_corpus
from shared.canon.model import CanonCharacter, CanonPage, Corpus, Normalisation, canon_page_id

__all__ = ["CanonCharacter", "CanonPage", "Corpus", "CorpusError", "Normalisation", "canon_page_id", "load_corpus"]
