"""Datasets: uploaded tables with a content hash, and the local roots channels may read."""
