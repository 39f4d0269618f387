"""ISNCSCI: the raw exam's structure, its classification and the checks between them."""
