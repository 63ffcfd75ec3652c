"""Aggregate: family and upstream rollups, imputation priors, timelines, the all-models engine."""
