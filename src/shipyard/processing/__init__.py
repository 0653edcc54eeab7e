"""Processing jobs: a script, or SQL over the inputs with DuckDB, from datasets to datasets."""
