"""Request and response models of the HTTP API (not the wire messages): one module a resource."""
