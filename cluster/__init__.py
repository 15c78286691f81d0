"""accord on a Dask cluster: the report's sections and batch pre-annotation over worker processes."""
