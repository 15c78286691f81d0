"""Pre-annotation servers and functions (Label Studio ML backend, CVAT auto-annotation)."""
