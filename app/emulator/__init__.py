"""A local stand-in for QuickBooks Online: Intuit's OAuth endpoints and the Accounting API.

`create_app()` in `app.emulator.app` builds one self-contained ASGI app; all state lives
in memory on that app instance, so tests can run many side by side, and is also kept in a
file when the config names one (`state_file`, as `python -m app run` does).
"""
