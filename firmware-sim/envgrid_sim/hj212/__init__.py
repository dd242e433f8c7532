"""A virtual 数采仪 (data-acquisition unit) speaking HJ 212 over TCP, for tests and the demo."""
