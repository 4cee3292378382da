"""engage: a real-time customer engagement engine on Ray.

Each customer is an actor; Ray actors (shards) are its hosts.
"""

__version__ = "0.1.0"
