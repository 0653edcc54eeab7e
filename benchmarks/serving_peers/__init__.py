"""benchmarks/serving.py's peers (the services it benchmarks Shipyard against) and the
parts of its harness."""
