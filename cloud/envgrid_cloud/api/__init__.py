"""The HTTP API: one router per resource, response models, request parameters."""

API_PREFIX = "/api/v1"
