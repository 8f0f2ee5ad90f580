"""Changes made inside QuickBooks to the records this service owns: found (Intuit's
webhooks, `webhook_router` and `intuit`; CDC), classified, acted on."""
