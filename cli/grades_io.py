"""Reading reviewers' grades of a spot check (``accord report --grades grades.csv``).

A CSV with a header line naming at least ``item_id``, ``annotator_id`` and ``grade``
(``verdict`` or ``result`` also work), and optionally ``reviewer`` and ``note``; one line
per graded submission, oldest first. Grades are pass / fail (also ok / error, 0 / 1; see
:func:`accord.core.qa.grades.parse_grade`). The sampled submissions to grade are the
report's ``sampling.spot_check.items``.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

from accord.core.errors import ConversionError
from accord.core.qa.grades import Grade, GradeError, parse_grade

from ._validate import read_text

_GRADE_COLUMNS = ("grade", "verdict", "result")


def read_grades(path: Path) -> list[Grade]:
    """The grades in ``path``, in file order.

    Raises:
        ConversionError: the file cannot be read, lacks a required column, or a line has
            an empty id or an unknown verdict (the message names the line).
    """
    text = read_text(path, what="--grades file")
    reader = csv.DictReader(io.StringIO(text))
    cols = {c.strip().lower(): c for c in reader.fieldnames or [] if c}
    grade_col = next((cols[c] for c in _GRADE_COLUMNS if c in cols), None)
    missing = [c for c in ("item_id", "annotator_id") if c not in cols] + ([] if grade_col else ["grade"])
    if missing:
        raise ConversionError(f"{path}: the grades CSV needs a header with item_id, annotator_id and grade; "
                              f"missing {', '.join(missing)} (found {', '.join(cols) or 'no header'})")
    out = []
    for row in reader:
        where = f"{path} line {reader.line_num}"
        item, ann = (row.get(cols["item_id"]) or "").strip(), (row.get(cols["annotator_id"]) or "").strip()
        if not item or not ann:
            raise ConversionError(f"{where}: item_id and annotator_id must not be empty")
        try:
            error = parse_grade(row.get(grade_col or "") or "", where=where)
        except GradeError as e:
            raise ConversionError(str(e)) from None
        reviewer = (row.get(cols["reviewer"]) or "").strip() or None if "reviewer" in cols else None
        note = (row.get(cols["note"]) or "").strip() or None if "note" in cols else None
        out.append(Grade(item_id=item, annotator_id=ann, error=error, reviewer=reviewer, note=note))
    return out
