"""Building blocks every domain may import: the entity key, job hints with their dirty
flags, the token cipher, retry backoff, metrics, worker heartbeats, Intuit's timestamps.
Nothing here imports a domain or `app.qbo` (only `app.config`, beneath it), so any package
may import it without a cycle."""
