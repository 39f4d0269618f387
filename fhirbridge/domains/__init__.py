"""Domain knowledge, one module per kind of record: structure, value rules and consistency checks."""
