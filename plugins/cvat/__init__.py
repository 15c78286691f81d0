"""accord for cvat."""
