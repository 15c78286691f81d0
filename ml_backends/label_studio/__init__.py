"""Label Studio ML backend: pre-annotations with scores, online training, per-project model versions.

Start it with ``accord serve label-studio`` (see ``README.md`` in this folder), or build the
ASGI app yourself with :func:`~accord.ml_backends.label_studio.app.create_app`.
Needs the ``serve`` extra (FastAPI, uvicorn, scikit-learn).
"""
