"""Gibsey's own common code: configuration, the symbol system, event contracts, storage and bus access."""

import warnings

# cassandra-driver imports its eventlet reactor eagerly, and eventlet warns on import that it is in
# maintenance mode. Nameko 2.14 is built on eventlet (a choice made for us), so for us the warning is noise.
warnings.filterwarnings("ignore", message=r"\s*Eventlet is deprecated")
# Likewise the driver's eventlet reactor, which Nameko workers need, warns that it is deprecated (it is
# removed in cassandra-driver 3.31, hence the pin below that in pyproject.toml).
warnings.filterwarnings("ignore", message=r"Call to deprecated class EventletConnection")
