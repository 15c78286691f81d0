"""Tool-neutral file formats: accord JSON Lines and COCO."""
