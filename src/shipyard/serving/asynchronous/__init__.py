"""Asynchronous inference (SageMaker's InvokeEndpointAsync): requests accepted into a durable
queue, answered in the background, results written to the artifact store, topics notified."""
