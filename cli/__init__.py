"""accord: annotation QA, agreement, cost and pre-labeling for Label Studio, CVAT and FiftyOne.

The installed namespace maps the repository's folders:

* ``accord.core``: the tool-neutral annotation model and every metric (numpy, scipy only);
* ``accord.plugins.label_studio`` / ``.cvat`` / ``.fiftyone``: one plugin per tool;
* ``accord.ml_backends``: pre-annotation servers and functions.
"""

from __future__ import annotations

__version__ = "0.1.0"
