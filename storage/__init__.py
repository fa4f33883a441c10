"""The persistence layer and the one door to the database: tables, queries by domain, the repository, migrations.

`bot` reaches the database only through this package: `repository.Repository` owns the engine and the
transactions, and the query modules (`consent`, `outbox`, `business`, ...) are functions of a connection
the repository opened. Never imports `bot` (an import-linter contract in pyproject.toml).
"""
