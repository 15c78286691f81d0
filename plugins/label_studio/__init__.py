"""accord for label_studio."""
