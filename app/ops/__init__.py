"""The ops console: HTML pages for connecting companies and replaying failures."""
