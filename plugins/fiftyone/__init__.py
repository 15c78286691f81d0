"""accord for fiftyone."""
