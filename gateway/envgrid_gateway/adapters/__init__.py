"""Protocol adapters: one module per protocol the gateway speaks to devices."""
