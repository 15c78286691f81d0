"""Text models of the ML backend: uncertainty scores, the classifier, the span tagger."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from scipy.stats import entropy as scipy_entropy

from accord.core.errors import AccordError, InvalidAnnotationError
from accord.ml_backends.text_models import (
    MultiLabelTextClassifier,
    SpanTagger,
    TextClassifier,
    confidence,
    tokenize,
)


def test_confidence_known_answers() -> None:
    # Settles (2009), Active Learning Literature Survey, sec. 3.1, arithmetic shown:
    # p = (0.5, 0.3, 0.2): least confidence -> max p = 0.5; margin -> 0.5 - 0.3 = 0.2;
    # entropy H = -(0.5 ln 0.5 + 0.3 ln 0.3 + 0.2 ln 0.2) = 1.0297; 1 - H / ln 3 = 0.06270.
    p = [[0.5, 0.3, 0.2]]
    assert confidence(p, "least_confidence")[0] == pytest.approx(0.5)
    assert confidence(p, "margin")[0] == pytest.approx(0.2)
    assert confidence(p, "entropy")[0] == pytest.approx(1 - 1.0296530140645737 / math.log(3))
    # uniform is the least confident under every measure; one-hot the most
    for s in ("least_confidence", "margin", "entropy"):
        u, o = confidence([[0.25] * 4, [1, 0, 0, 0]], s)
        assert u < o
        assert o == pytest.approx(1.0)


def _rows(draw_arr: np.ndarray) -> np.ndarray:
    a = np.abs(draw_arr) + 1e-6
    return a / a.sum(axis=1, keepdims=True)


@settings(max_examples=50, deadline=None)
@given(arrays(np.float64, st.tuples(st.integers(1, 6), st.integers(2, 6)),
              elements=st.floats(0, 10, allow_nan=False)))
def test_confidence_matches_scipy_entropy_and_bounds(raw: np.ndarray) -> None:
    p = _rows(raw)
    ent = confidence(p, "entropy")
    expected = 1 - scipy_entropy(p, axis=1) / math.log(p.shape[1])
    np.testing.assert_allclose(ent, expected, atol=1e-9)
    for s in ("least_confidence", "margin", "entropy"):
        c = confidence(p, s)
        assert np.all((c >= -1e-12) & (c <= 1 + 1e-12))
        # invariant to the order of the classes
        np.testing.assert_allclose(c, confidence(p[:, ::-1], s), atol=1e-12)


def test_confidence_rejects_bad_input() -> None:
    with pytest.raises(InvalidAnnotationError, match="unknown uncertainty strategy"):
        confidence([[0.5, 0.5]], "random")  # type: ignore[arg-type]
    with pytest.raises(InvalidAnnotationError, match="logits"):
        confidence([[2.0, -1.0]])


POS = ["good movie", "great acting", "wonderful story", "excellent film", "loved it", "great fun"]
NEG = ["bad movie", "awful acting", "terrible story", "horrible film", "hated it", "boring mess"]


def test_classifier_cold_start_then_learns() -> None:
    m = TextClassifier()
    assert m.predict(["good"]) == []
    m.fit(["good", "great"], ["pos", "pos"])  # one class: still cold, predicts nothing
    assert m.is_cold
    assert m.predict(["good"]) == []
    with pytest.raises(AccordError, match="cold"):
        m.predict_proba(["good"])
    m.fit(POS + NEG, ["pos"] * 6 + ["neg"] * 6)
    out = m.predict(["a great story", "an awful mess", "the"])
    assert [o.label for o in out[:2]] == ["pos", "neg"]
    # a text with no known word is the least confident -> sorts first in Label Studio
    assert out[2].score < min(out[0].score, out[1].score)
    assert all(0.0 <= o.score <= 1.0 and 0.0 <= o.probability <= 1.0 for o in out)


def test_classifier_agrees_with_sklearn_logistic_regression_on_tfidf() -> None:
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression

    y = ["pos"] * 6 + ["neg"] * 6
    ours = TextClassifier().fit(POS + NEG, y).predict_proba(["great story", "awful film"])
    vec = TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True)
    lr = LogisticRegression(C=10.0, max_iter=1000).fit(vec.fit_transform(POS + NEG), y)
    np.testing.assert_allclose(ours, lr.predict_proba(vec.transform(["great story", "awful film"])), atol=1e-9)


def test_classifier_length_mismatch() -> None:
    with pytest.raises(InvalidAnnotationError, match="differ in length"):
        TextClassifier().fit(["a"], ["x", "y"])


def test_tokenize_offsets_round_trip() -> None:
    text = "Dr. Ada King-Lovelace met Babbage in 1833, in London!"
    toks = tokenize(text)
    assert "".join(text[a:b] for a, b in toks) == text.replace(" ", "")
    assert ("King-Lovelace" in [text[a:b] for a, b in toks])


PEOPLE = ["Alice", "Bob", "Carol", "Dave", "Erin", "Frank", "Grace", "Heidi"]
CITIES = ["Paris", "Berlin", "Madrid", "Rome", "Vienna", "Prague", "Oslo", "Lisbon"]


def _ner_data(people: list[str], cities: list[str]) -> tuple[list[str], list[list[tuple[int, int, str]]]]:
    texts, spans = [], []
    for p, c in zip(people, cities, strict=True):
        t = f"Yesterday {p} flew to {c} for work ."
        texts.append(t)
        spans.append([(t.index(p), t.index(p) + len(p), "PER"), (t.index(c), t.index(c) + len(c), "LOC")])
    return texts, spans


def test_span_tagger_gazetteer_and_generalisation() -> None:
    texts, spans = _ner_data(PEOPLE[:6], CITIES[:6])
    tagger = SpanTagger().fit(texts, spans)
    # seen names come from the gazetteer, with character offsets into the text
    t = "Later Alice drove to Rome ."
    got = [(s.start, s.end, s.text, s.label) for s in tagger.predict(t)]
    assert got == [(6, 11, "Alice", "PER"), (21, 25, "Rome", "LOC")]
    for s in tagger.predict(t):
        assert t[s.start:s.end] == s.text
    # unseen names in the same context come from the token classifier
    held_out, gold = _ner_data(PEOPLE[6:], CITIES[6:])
    for text, g in zip(held_out, gold, strict=True):
        pred = {(s.start, s.end, s.label) for s in tagger.predict(text)}
        assert set(g) <= pred
    assert 0.0 <= tagger.score_text(held_out[0]) <= 1.0


def test_span_tagger_differential_against_seqeval() -> None:
    # Span F1 of our spans, converted to BIO, scored by seqeval, must equal a direct span count.
    from seqeval.metrics import f1_score

    texts, spans = _ner_data(PEOPLE[:6], CITIES[:6])
    tagger = SpanTagger().fit(texts, spans)
    held, gold = _ner_data([*PEOPLE[6:], "Ivan"], [*CITIES[6:], "Cairo"])

    def bio(text: str, sp: list[tuple[int, int, str]]) -> list[str]:
        toks = tokenize(text)
        tags = ["O"] * len(toks)
        for a, b, lab in sp:
            inside = [i for i, (x, y) in enumerate(toks) if x < b and y > a]
            for j, i in enumerate(inside):
                tags[i] = ("B-" if j == 0 else "I-") + lab
        return tags

    pred = [[(s.start, s.end, s.label) for s in tagger.predict(t)] for t in held]
    y_true = [bio(t, g) for t, g in zip(held, gold, strict=True)]
    y_pred = [bio(t, p) for t, p in zip(held, pred, strict=True)]
    tp = sum(len(set(g) & set(p)) for g, p in zip(gold, pred, strict=True))
    n_pred, n_gold = sum(map(len, pred)), sum(map(len, gold))
    ours = 2 * tp / (n_pred + n_gold)
    assert f1_score(y_true, y_pred) == pytest.approx(ours)
    assert ours > 0.6


def test_span_tagger_cold_and_bad_spans() -> None:
    assert SpanTagger().predict("Alice in Paris") == []
    assert SpanTagger().score_text("Alice") == 0.0
    with pytest.raises(InvalidAnnotationError, match="outside a text of length 5"):
        SpanTagger().fit(["Alice"], [[(0, 9, "PER")]])


# -- multi-label Choices ------------------------------------------------------------------------

ML_TEXTS = ["rain today", "sunny today", "rain and wind", "sunny and wind", "wind only", "heavy rain",
            "bright sunny sky", "calm day"]
ML_SETS = [{"wet"}, {"dry"}, {"wet", "windy"}, {"dry", "windy"}, {"windy"}, {"wet"}, {"dry"}, set()]


def test_multilabel_agrees_with_sklearn_one_vs_rest() -> None:
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.multiclass import OneVsRestClassifier
    from sklearn.preprocessing import MultiLabelBinarizer

    m = MultiLabelTextClassifier().fit(ML_TEXTS, ML_SETS)
    assert m.classes == ("dry", "wet", "windy")
    queries = ["rain and wind tonight", "sunny", "nothing known"]
    vec = TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True)
    mlb = MultiLabelBinarizer(classes=["dry", "wet", "windy"])
    ovr = OneVsRestClassifier(LogisticRegression(C=10.0, max_iter=1000)).fit(vec.fit_transform(ML_TEXTS),
                                                                            mlb.fit_transform(ML_SETS))
    np.testing.assert_allclose(m.predict_proba(queries), ovr.predict_proba(vec.transform(queries)), atol=1e-9)


def test_multilabel_threshold_and_confidence() -> None:
    m = MultiLabelTextClassifier(threshold=0.5).fit(ML_TEXTS, ML_SETS)
    p = m.predict_proba(["rain and wind tonight", "nothing known"])
    (a, b) = m.predict(["rain and wind tonight", "nothing known"])
    assert a.labels == tuple(c for c, v in zip(m.classes, p[0], strict=True) if v >= 0.5)
    assert {"wet", "windy"} <= set(a.labels)
    # confidence = the least certain yes/no decision: min over labels of max(p, 1 - p)
    assert a.score == pytest.approx(float(np.maximum(p[0], 1 - p[0]).min()))
    assert b.score < a.score  # a text with no known word is the closest call
    low = MultiLabelTextClassifier(threshold=0.05).fit(ML_TEXTS, ML_SETS).predict(["nothing known"])[0]
    assert len(low.labels) > len(b.labels)  # a lower threshold returns more choices
    with pytest.raises(InvalidAnnotationError, match=r"threshold must be in \(0, 1\)"):
        MultiLabelTextClassifier(threshold=1.0)


def test_multilabel_cold_and_constant_labels() -> None:
    # every text has "a": no second class to learn from -> cold
    cold = MultiLabelTextClassifier().fit(["x", "y"], [{"a"}, {"a"}])
    assert cold.is_cold
    assert cold.predict(["x"]) == []
    with pytest.raises(AccordError, match="cold"):
        cold.predict_proba(["x"])
    # "a" on every text, "b" on one: a is constant 1.0, b is learned
    m = MultiLabelTextClassifier().fit(["x one", "y two"], [{"a", "b"}, {"a"}])
    assert m.predict_proba(["z"])[0, 0] == 1.0
    assert m.predict(["z"])[0].labels[0] == "a"
    with pytest.raises(InvalidAnnotationError, match="differ in length"):
        MultiLabelTextClassifier().fit(["x"], [])


def _through_npz(state: tuple[dict, dict]) -> tuple[dict, dict]:
    """What a saved model becomes on disk and back: JSON header + arrays read with allow_pickle=False."""
    import io
    import json

    meta, arrs = state
    buf = io.BytesIO()
    np.savez(buf, allow_pickle=False, **arrs)
    buf.seek(0)
    with np.load(buf, allow_pickle=False) as z:
        back = {k: z[k] for k in z.files}
    return json.loads(json.dumps(meta)), back


def test_models_round_trip_through_arrays_and_json_without_pickle() -> None:
    texts = ["good fun", "great day", "bad one", "awful day", "meh ok", "fine meh"]
    clf = TextClassifier(strategy="margin").fit(texts, ["pos", "pos", "neg", "neg", "mid", "mid"])
    clf2 = TextClassifier.from_state(*_through_npz(clf.to_state()))
    probe = ["good day", "awful meh", "unseen words"]
    np.testing.assert_array_equal(clf.predict_proba(probe), clf2.predict_proba(probe))
    assert clf.predict(probe) == clf2.predict(probe)
    assert (clf2.classes, clf2.strategy, clf2.n_examples) == (clf.classes, "margin", 6)
    cold = TextClassifier.from_state(*_through_npz(TextClassifier().fit(["x"], ["a"]).to_state()))
    assert cold.is_cold

    ml = MultiLabelTextClassifier(threshold=0.4).fit(["rain", "sun", "rain and wind", "sun and wind"],
                                                     [{"wet"}, {"dry"}, {"wet", "windy", "all"}, {"dry", "all"}])
    ml2 = MultiLabelTextClassifier.from_state(*_through_npz(ml.to_state()))
    np.testing.assert_array_equal(ml.predict_proba(["rain wind"]), ml2.predict_proba(["rain wind"]))
    assert ml.predict(["sun"]) == ml2.predict(["sun"])

    tagger = SpanTagger().fit(["Ada lives in Paris", "Bob met Ada in Rome"],
                              [[(0, 3, "PER"), (13, 18, "LOC")], [(0, 3, "PER"), (8, 11, "PER"), (15, 19, "LOC")]])
    tagger2 = SpanTagger.from_state(*_through_npz(tagger.to_state()))
    for text in ("Carl went to Oslo", "Ada and Bob in Paris"):
        assert tagger.predict(text) == tagger2.predict(text)
        assert tagger.score_text(text) == tagger2.score_text(text)
    assert tagger2.gazetteer == tagger.gazetteer
