"""The mergeable report engine (issue #16).

:mod:`.engine` is the section contract (create / add / merge / finish over partitions of whole
items, stages, iterative passes, item-keyed Poisson bootstrap weights, :class:`~.engine.Runner`
and :func:`~.engine.split_items`). The sections: nominal class agreement with intervals
(:mod:`.classes`), Dawid-Skene as map-reduce EM (:mod:`.truth`), the conflict queue
(:mod:`.conflicts`), the dataset's totals and consensus mismatches (:mod:`.discrepancies`), gold
scoring (:mod:`.gold`), bias monitoring (:mod:`.bias`), the rule-based checks (:mod:`.checks`),
sampling (:mod:`.sampling`) and cost (:mod:`.cost`). :func:`accord.core.qa.report.build_report` runs them through its
runner (one partition by default; the Dask runner folds them on the workers); the sections not
listed here still read the whole dataset.
"""
