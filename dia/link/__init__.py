"""Link: the lineage vocabulary and graph (models connected by relations)."""
