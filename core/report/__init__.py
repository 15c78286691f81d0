"""The mergeable report engine (issue #16).

:mod:`.engine` is the section contract (create / add / merge / finish over partitions of whole
items, stages, iterative passes, item-keyed Poisson bootstrap weights, the dataset's item order
for finishes that need it, :class:`~.engine.Runner` and :func:`~.engine.split_items`). The
sections, every one of the report's:

* agreement: the whole class-agreement block of every scale, numeric and multi-label, with
  per-item scores and item-bootstrap intervals (:mod:`.class_agreement`, its nominal sums in
  :mod:`.classes`); region and text agreement, structured alpha's expected disagreement from a
  second pass over the sampled units, cpWER, gold COCO and DER rows (:mod:`.regions`);
* truth: Dawid-Skene as map-reduce EM (:mod:`.truth`); class and multi-label consensus of every
  method with skill intervals and ambiguity (:mod:`.consensus`); fused regions and box truth
  inference (:mod:`.region_consensus`);
* findings: gold scoring (:mod:`.gold`), the conflict queue (:mod:`.conflicts`), the totals and
  consensus mismatches (:mod:`.discrepancies`), label errors (:mod:`.label_errors`), model vs
  human (:mod:`.model_eval`), attributes and tracks (:mod:`.attributes`), bias (:mod:`.bias`),
  the rule-based checks (:mod:`.checks`), sampling (:mod:`.sampling`) and cost (:mod:`.cost`).

:func:`accord.core.qa.report.build_report` runs them through its runner (one partition by
default; the Dask runner folds them on the workers, and a
:class:`~accord.core.model.DatasetOutline` with that runner is all the client needs).
"""
