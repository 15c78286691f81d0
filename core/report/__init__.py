"""The mergeable report engine (issue #16, in progress).

:mod:`.engine` is the section contract (create / add / merge / finish over partitions of whole
items, stages, iterative passes, item-keyed Poisson bootstrap weights); :mod:`.classes` is the
first section on it, nominal class agreement with intervals, exact under any split. The report
that ``accord report`` builds (:func:`accord.core.qa.report.build_report`) does not run these
sections yet.
"""
