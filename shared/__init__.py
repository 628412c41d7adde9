"""Gibsey's own common code: configuration, the symbol system, event contracts, storage and bus access."""

import warnings

# cassandra-driver imports its eventlet reactor eagerly, and eventlet warns on import that it is in
# maintenance mode. Nameko 2.14 is built on eventlet (a choice made for us), so for us the warning is noise.
warnings.filterwarnings("ignore", message=r"\s*Eventlet is deprecated")
