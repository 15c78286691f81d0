"""Adjudication and multi-pass review: the web app, its roles, and write-back (``accord review``)."""
