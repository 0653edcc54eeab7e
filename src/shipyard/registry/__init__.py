"""The model registry: package groups, versioned model packages, approvals, model cards."""
