"""Character chat: a reader's question answered in a character's voice, grounded in verbatim canon quotes."""
