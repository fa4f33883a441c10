"""The persistence layer: SQLModel tables, the engine, migrations and the repository. Never imports `bot`."""
