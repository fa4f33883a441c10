"""The admin API under /api: an aiohttp sub-application, one module per resource, and its OpenAPI document."""
