"""The small HTML pages a person sees at the end of the OAuth flow."""

from __future__ import annotations

from html import escape

from fastapi.responses import HTMLResponse


def page(title: str, message: str, status: int = 200) -> HTMLResponse:
    body = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{escape(title)} - qbo-sync</title>
<style>body{{font-family:system-ui,sans-serif;max-width:36rem;margin:4rem auto}}</style>
</head><body><h1>{escape(title)}</h1><p>{escape(message)}</p></body></html>"""
    return HTMLResponse(body, status_code=status)
