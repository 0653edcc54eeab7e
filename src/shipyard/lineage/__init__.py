"""Lineage: what produced and what consumed every dataset, job, model, package and endpoint."""
