"""Record: the run report model and the store."""
