"""Building blocks every domain may import: the entity key, job hints with their dirty
flags, the token cipher, retry backoff, metrics, worker heartbeats, the callback address
exceptions. Nothing here imports a domain, `app.qbo` or `app.config`, so any package may
import it without a cycle."""
