"""The Python SDK: speaks HTTP to a Shipyard server, in the shape of the SageMaker SDK."""
