"""Intuit's webhooks: verified, stored, and handed to the drift jobs."""
