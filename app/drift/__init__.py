"""Changes made inside QuickBooks to the records this service owns: found, classified, acted on."""
