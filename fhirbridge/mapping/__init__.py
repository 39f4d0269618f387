"""Loading and checking mapping specs (the YAML files in `mappings/`)."""
