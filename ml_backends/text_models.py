"""Small text models that learn from Label Studio annotations while a project is labeled.

Three models, all cheap enough to retrain on every "Train" press:

* :class:`TextClassifier` -- TF-IDF (word 1-2 grams) + logistic regression
  (scikit-learn). Before it has seen two distinct classes it is *cold* and
  predicts nothing: a guess from one class is worse than no pre-annotation.
* :class:`MultiLabelTextClassifier` -- the same features, one-vs-rest: one binary
  logistic regression per label (``Choices choice="multiple"``); every label whose
  probability reaches a threshold is predicted.
* :class:`SpanTagger` -- named-entity spans: a gazetteer of every annotated
  surface form plus a per-token BIO classifier (logistic regression over word,
  shape, affix and neighbour features). It returns character offsets
  ``[start, end)`` into the original string, which is what Label Studio's
  ``Labels`` over ``Text`` expects.

Every prediction carries a *confidence* in ``[0, 1]`` computed by
:func:`confidence` (higher is surer), so sorting tasks by prediction score,
ascending, is uncertainty sampling: least confident first.

Each model saves itself as data, never as a pickle: ``to_state()`` gives a JSON
header (parameters, vocabularies, labels) and named numpy arrays (idf weights,
coefficients), and ``from_state()`` rebuilds the scikit-learn objects from them, so
a saved model can be read with ``numpy.load(..., allow_pickle=False)`` and no file
can execute code when a model is loaded.
"""

from __future__ import annotations

import math
import re
from collections import Counter, defaultdict
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from accord.core.errors import AccordError, InvalidAnnotationError
from accord.core.qa.active_learning import uncertainty_ranking

Strategy = Literal["least_confidence", "margin", "entropy"]
STRATEGIES: tuple[Strategy, ...] = ("least_confidence", "margin", "entropy")

_TOKEN = re.compile(r"\w+(?:[-'’.]\w+)*|[^\w\s]", re.UNICODE)


def confidence(probs: Any, strategy: Strategy = "least_confidence") -> np.ndarray[Any, np.dtype[np.float64]]:
    """Per-row confidence in ``[0, 1]`` of class-probability rows; low = uncertain.

    The three classic uncertainty-sampling measures (Settles, *Active Learning
    Literature Survey*, 2009, section 3.1), computed by
    :func:`accord.core.qa.active_learning.uncertainty_ranking` and turned so that
    higher is more confident and Label Studio's ascending sort puts the most
    uncertain first:

    * ``least_confidence``: ``max_k p_k``.
    * ``margin``: ``p_(1) - p_(2)`` (1.0 with a single class).
    * ``entropy``: ``1 - H(p) / log K`` (1.0 with a single class).

    Args:
        probs: ``(n, K)`` array, rows summing to 1 (a 1-d array is one row).
        strategy: One of :data:`STRATEGIES`.

    Returns:
        ``(n,)`` float array.

    Raises:
        InvalidAnnotationError: unknown strategy, or probabilities outside ``[0, 1]``.

    Example:
        >>> confidence([[0.5, 0.3, 0.2]], "margin").round(3).tolist()
        [0.2]
    """
    p = np.atleast_2d(np.asarray(probs, dtype=float))
    if strategy not in STRATEGIES:
        raise InvalidAnnotationError(f"unknown uncertainty strategy {strategy!r}; use one of {STRATEGIES}")
    if p.size and (np.nanmin(p) < -1e-9 or np.nanmax(p) > 1 + 1e-9):
        raise InvalidAnnotationError("probabilities must lie in [0, 1]; pass predict_proba output, not logits")
    n, k = p.shape
    if n == 0:
        return np.zeros(0)
    if k < 2:
        return np.ones(n)
    # The informativeness scores come from the core sampling strategies; turn them into confidences.
    s = uncertainty_ranking(p, method=strategy).scores
    if strategy == "least_confidence":
        return np.asarray(1.0 - s)
    if strategy == "margin":
        return np.asarray(-s)
    return np.asarray(np.clip(1.0 - s / math.log(k), 0.0, 1.0))


#: ``(JSON header, named arrays)``: what ``to_state()`` returns and ``from_state()`` reads.
State = tuple[dict[str, Any], dict[str, np.ndarray[Any, Any]]]


def _str_array(items: Sequence[str]) -> np.ndarray[Any, Any]:
    return np.asarray([str(x) for x in items], dtype=str)


def _tfidf_to_state(vec: Any, prefix: str, arrays: dict[str, Any]) -> dict[str, Any]:
    terms = sorted(vec.vocabulary_, key=vec.vocabulary_.__getitem__)
    arrays[prefix + "terms"] = _str_array(terms)
    arrays[prefix + "idf"] = np.asarray(vec.idf_, dtype=np.float64)
    return {"ngram_range": list(vec.ngram_range), "sublinear_tf": bool(vec.sublinear_tf),
            "lowercase": bool(vec.lowercase)}


def _tfidf_from_state(meta: dict[str, Any], prefix: str, arrays: dict[str, Any]) -> Any:
    from sklearn.feature_extraction.text import TfidfVectorizer

    lo, hi = (int(x) for x in meta["ngram_range"])
    vec = TfidfVectorizer(ngram_range=(lo, hi), sublinear_tf=bool(meta["sublinear_tf"]),
                          lowercase=bool(meta["lowercase"]))
    terms = [str(t) for t in arrays[prefix + "terms"].tolist()]
    vec.vocabulary_ = {t: i for i, t in enumerate(terms)}
    vec.idf_ = np.asarray(arrays[prefix + "idf"], dtype=np.float64)
    return vec


def _lr_to_state(lr: Any, prefix: str, arrays: dict[str, Any]) -> dict[str, Any]:
    arrays[prefix + "coef"] = np.asarray(lr.coef_, dtype=np.float64)
    arrays[prefix + "intercept"] = np.asarray(lr.intercept_, dtype=np.float64)
    classes = list(lr.classes_)
    is_str = any(isinstance(c, str) for c in classes)
    arrays[prefix + "classes"] = _str_array(classes) if is_str else np.asarray(classes, dtype=np.int64)
    return {"C": float(lr.C), "max_iter": int(lr.max_iter)}


def _lr_from_state(meta: dict[str, Any], prefix: str, arrays: dict[str, Any]) -> Any:
    from sklearn.linear_model import LogisticRegression

    lr = LogisticRegression(C=float(meta["C"]), max_iter=int(meta["max_iter"]))
    lr.coef_ = np.asarray(arrays[prefix + "coef"], dtype=np.float64)
    lr.intercept_ = np.asarray(arrays[prefix + "intercept"], dtype=np.float64)
    lr.classes_ = np.asarray(arrays[prefix + "classes"])
    lr.n_features_in_ = int(lr.coef_.shape[1])
    lr.n_iter_ = np.zeros(1, dtype=np.int32)
    return lr


def _require_sklearn() -> Any:
    try:
        import sklearn
    except ImportError as e:
        raise AccordError("scikit-learn is needed for the text models; install it with: "
                          "pip install 'accord[serve]'") from e
    return sklearn


@dataclass(frozen=True, slots=True, kw_only=True)
class ClassPrediction:
    """One text classification: the label, its probability and the row's confidence."""

    label: str
    probability: float
    score: float


class TextClassifier:
    """TF-IDF + logistic regression over whole texts; cold (predicts nothing) below 2 classes.

    Example:
        >>> m = TextClassifier().fit(["good", "great", "bad", "awful"], ["pos", "pos", "neg", "neg"])
        >>> m.predict(["good"])[0].label
        'pos'
    """

    def __init__(self, *, strategy: Strategy = "least_confidence", c: float = 10.0) -> None:
        self.strategy: Strategy = strategy
        self.c = c
        self._pipe: Any = None
        self.classes: tuple[str, ...] = ()
        self.n_examples = 0

    @property
    def is_cold(self) -> bool:
        """True until the model has been fitted on at least two distinct classes."""
        return self._pipe is None

    def fit(self, texts: Sequence[str], labels: Sequence[str]) -> TextClassifier:
        """Fit on parallel ``texts``/``labels``; with fewer than two classes the model stays cold."""
        if len(texts) != len(labels):
            raise InvalidAnnotationError(f"texts and labels differ in length ({len(texts)} != {len(labels)})")
        self.n_examples = len(texts)
        classes = sorted(set(labels))
        self.classes = tuple(classes)
        if len(classes) < 2:
            self._pipe = None
            return self
        _require_sklearn()
        from sklearn.feature_extraction.text import TfidfVectorizer
        from sklearn.linear_model import LogisticRegression
        from sklearn.pipeline import make_pipeline

        pipe = make_pipeline(TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, lowercase=True),
                             LogisticRegression(C=self.c, max_iter=1000))
        pipe.fit([str(t) for t in texts], list(labels))
        self._pipe = pipe
        self.classes = tuple(str(c) for c in pipe.classes_)
        return self

    def to_state(self) -> State:
        """The fitted model as a JSON header and arrays (see the module docstring)."""
        arrays: dict[str, Any] = {}
        meta: dict[str, Any] = {"strategy": self.strategy, "c": self.c, "classes": list(self.classes),
                                "n_examples": self.n_examples, "cold": self._pipe is None}
        if self._pipe is not None:
            vec, lr = self._pipe.steps[0][1], self._pipe.steps[-1][1]
            meta["tfidf"] = _tfidf_to_state(vec, "tfidf.", arrays)
            meta["lr"] = _lr_to_state(lr, "lr.", arrays)
        return meta, arrays

    @classmethod
    def from_state(cls, meta: dict[str, Any], arrays: dict[str, Any]) -> TextClassifier:
        """Rebuild a model from :meth:`to_state` output."""
        m = cls(strategy=meta["strategy"], c=float(meta["c"]))
        m.classes = tuple(str(c) for c in meta["classes"])
        m.n_examples = int(meta["n_examples"])
        if not meta["cold"]:
            _require_sklearn()
            from sklearn.pipeline import make_pipeline

            m._pipe = make_pipeline(_tfidf_from_state(meta["tfidf"], "tfidf.", arrays),
                                    _lr_from_state(meta["lr"], "lr.", arrays))
        return m

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray[Any, np.dtype[np.float64]]:
        """``(n, len(classes))`` probabilities; raises when the model is cold."""
        if self._pipe is None:
            raise AccordError("the text classifier is cold (fewer than two labeled classes); "
                              "annotate tasks of at least two classes and train again")
        return np.asarray(self._pipe.predict_proba([str(t) for t in texts]))

    def predict(self, texts: Sequence[str]) -> list[ClassPrediction]:
        """One :class:`ClassPrediction` per text, or ``[]`` when the model is cold."""
        if self._pipe is None or not texts:
            return []
        p = self.predict_proba(texts)
        conf = confidence(p, self.strategy)
        best = p.argmax(axis=1)
        return [ClassPrediction(label=self.classes[int(b)], probability=float(p[i, b]), score=float(conf[i]))
                for i, b in enumerate(best)]


@dataclass(frozen=True, slots=True, kw_only=True)
class MultiLabelPrediction:
    """One multi-label classification: the labels at or above the threshold, every label's probability,
    and the row's confidence (that of its least certain yes/no decision)."""

    labels: tuple[str, ...]
    probabilities: dict[str, float]
    score: float


class MultiLabelTextClassifier:
    """TF-IDF + one binary logistic regression per label (one-vs-rest), for multi-label ``Choices``.

    Each label is a yes/no problem on the shared TF-IDF features (the same features as
    :class:`TextClassifier`). A label seen on every text, or on none, has no second class
    to learn from: its probability is that constant (1.0 or 0.0). The model is cold
    (predicts nothing) until at least one label has both positive and negative texts.

    The confidence of a row is ``min over labels of max(p, 1 - p)``: least confidence
    (Settles 2009) applied to each binary decision, the least certain one counting, so
    the ascending sort in Label Studio shows first the texts with the closest call.

    Example:
        >>> m = MultiLabelTextClassifier().fit(["rain", "sun", "rain and wind", "sun and wind"],
        ...                                    [{"wet"}, {"dry"}, {"wet", "windy"}, {"dry", "windy"}])
        >>> m.predict(["rain and wind"])[0].labels
        ('wet', 'windy')
    """

    def __init__(self, *, threshold: float = 0.5, c: float = 10.0) -> None:
        if not 0.0 < threshold < 1.0:
            raise InvalidAnnotationError(f"the multi-label threshold must be in (0, 1), got {threshold!r}")
        self.threshold = threshold
        self.c = c
        self._vec: Any = None
        self._models: dict[str, Any] = {}
        self._constant: dict[str, float] = {}
        self.classes: tuple[str, ...] = ()
        self.n_examples = 0

    @property
    def is_cold(self) -> bool:
        """True until some label has been seen both present and absent."""
        return not self._models

    def fit(self, texts: Sequence[str], label_sets: Sequence[Collection[str]]) -> MultiLabelTextClassifier:
        """Fit on parallel ``texts`` and label sets (an empty set = no label applies).

        Raises:
            InvalidAnnotationError: lengths differ.
        """
        if len(texts) != len(label_sets):
            raise InvalidAnnotationError(f"texts and label sets differ in length ({len(texts)} != {len(label_sets)})")
        self.n_examples = len(texts)
        sets = [{str(x) for x in ls} for ls in label_sets]
        self.classes = tuple(sorted(set().union(*sets))) if sets else ()
        self._models, self._constant, self._vec = {}, {}, None
        ys = {c: np.array([c in s for s in sets], dtype=int) for c in self.classes}
        if not any(0 < y.sum() < len(y) for y in ys.values()):
            return self
        _require_sklearn()
        from sklearn.feature_extraction.text import TfidfVectorizer
        from sklearn.linear_model import LogisticRegression

        self._vec = TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, lowercase=True)
        X = self._vec.fit_transform([str(t) for t in texts])
        for c, y in ys.items():
            if 0 < y.sum() < len(y):
                self._models[c] = LogisticRegression(C=self.c, max_iter=1000).fit(X, y)
            else:
                self._constant[c] = float(y[0])
        return self

    def to_state(self) -> State:
        """The fitted model as a JSON header and arrays (see the module docstring)."""
        arrays: dict[str, Any] = {}
        meta: dict[str, Any] = {"threshold": self.threshold, "c": self.c, "classes": list(self.classes),
                                "n_examples": self.n_examples, "constant": dict(self._constant),
                                "models": [], "tfidf": None}
        if self._vec is not None:
            meta["tfidf"] = _tfidf_to_state(self._vec, "tfidf.", arrays)
        for i, (label, lr) in enumerate(self._models.items()):
            meta["models"].append({"label": label, "lr": _lr_to_state(lr, f"lr{i}.", arrays)})
        return meta, arrays

    @classmethod
    def from_state(cls, meta: dict[str, Any], arrays: dict[str, Any]) -> MultiLabelTextClassifier:
        """Rebuild a model from :meth:`to_state` output."""
        m = cls(threshold=float(meta["threshold"]), c=float(meta["c"]))
        m.classes = tuple(str(c) for c in meta["classes"])
        m.n_examples = int(meta["n_examples"])
        m._constant = {str(k): float(v) for k, v in meta["constant"].items()}
        if meta["models"]:
            _require_sklearn()
        if meta["tfidf"] is not None:
            m._vec = _tfidf_from_state(meta["tfidf"], "tfidf.", arrays)
        m._models = {str(e["label"]): _lr_from_state(e["lr"], f"lr{i}.", arrays)
                     for i, e in enumerate(meta["models"])}
        return m

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray[Any, np.dtype[np.float64]]:
        """``(n, len(classes))`` probability of each label (columns need not sum to 1); raises when cold."""
        if self.is_cold:
            raise AccordError("the multi-label classifier is cold (no label seen both present and absent); "
                              "annotate more tasks and train again")
        X = self._vec.transform([str(t) for t in texts])
        cols = [self._models[c].predict_proba(X)[:, 1] if c in self._models
                else np.full(len(texts), self._constant[c]) for c in self.classes]
        return np.column_stack(cols) if cols else np.zeros((len(texts), 0))

    def predict(self, texts: Sequence[str]) -> list[MultiLabelPrediction]:
        """One :class:`MultiLabelPrediction` per text, or ``[]`` when the model is cold."""
        if self.is_cold or not texts:
            return []
        p = self.predict_proba(texts)
        conf = np.maximum(p, 1.0 - p).min(axis=1)
        out = []
        for i in range(len(p)):
            row = [float(v) for v in p[i]]
            out.append(MultiLabelPrediction(labels=tuple(c for c, v in zip(self.classes, row, strict=True)
                                                         if v >= self.threshold),
                                            probabilities=dict(zip(self.classes, row, strict=True)),
                                            score=float(conf[i])))
        return out


@dataclass(frozen=True, slots=True, kw_only=True)
class SpanPrediction:
    """A labeled character span ``text[start:end]`` with its probability-like score."""

    start: int
    end: int
    text: str
    label: str
    score: float


def tokenize(text: str) -> list[tuple[int, int]]:
    """Character offsets ``(start, end)`` of word and punctuation tokens.

    Example:
        >>> tokenize("Ada Lovelace, 1815.")
        [(0, 3), (4, 12), (12, 13), (14, 18), (18, 19)]
    """
    return [m.span() for m in _TOKEN.finditer(text)]


def _shape(w: str) -> str:
    s = re.sub(r"[A-Z]", "X", w)
    s = re.sub(r"[a-z]", "x", s)
    s = re.sub(r"\d", "d", s)
    return re.sub(r"(.)\1+", r"\1\1", s)


def _features(words: list[str], i: int) -> dict[str, Any]:
    w = words[i]
    lw = w.lower()
    f: dict[str, Any] = {"b": 1, "w=" + lw: 1, "shape=" + _shape(w): 1, "suf3=" + lw[-3:]: 1,
                         "pre3=" + lw[:3]: 1, "title": int(w.istitle()), "upper": int(w.isupper()),
                         "digit": int(w.isdigit())}
    f["p=" + (words[i - 1].lower() if i > 0 else "<s>")] = 1
    f["n=" + (words[i + 1].lower() if i + 1 < len(words) else "</s>")] = 1
    f["pshape=" + (_shape(words[i - 1]) if i > 0 else "<s>")] = 1
    return f


class SpanTagger:
    """Gazetteer + per-token BIO logistic regression for ``Labels`` over ``Text``.

    The gazetteer remembers every annotated surface form (case-folded token
    sequence) and its label counts; a match scores the majority label's share.
    The token classifier generalises to unseen names; its spans score the mean
    winning-tag probability. Gazetteer spans win over overlapping classifier
    spans. The task-level score (:meth:`score_text`) is the confidence of the
    least confident token, or 0.0 with no token classifier yet.

    Example:
        >>> t = SpanTagger().fit(["Ada lives in Paris"], [[(13, 18, "LOC")]])
        >>> [(s.text, s.label) for s in t.predict("Bob went to Paris")]
        [('Paris', 'LOC')]
    """

    def __init__(self, *, strategy: Strategy = "least_confidence", c: float = 5.0) -> None:
        self.strategy: Strategy = strategy
        self.c = c
        self.gazetteer: dict[tuple[str, ...], Counter[str]] = {}
        self._max_len = 0
        self._vec: Any = None
        self._clf: Any = None
        self.labels: tuple[str, ...] = ()
        self.n_examples = 0

    @property
    def is_cold(self) -> bool:
        """True until at least one span has been seen."""
        return not self.gazetteer

    def fit(self, texts: Sequence[str], spans: Sequence[Sequence[tuple[int, int, str]]]) -> SpanTagger:
        """Fit on texts and their gold spans ``(start, end, label)`` (character offsets, end exclusive).

        Raises:
            InvalidAnnotationError: lengths differ, or a span lies outside its text.
        """
        if len(texts) != len(spans):
            raise InvalidAnnotationError(f"texts and spans differ in length ({len(texts)} != {len(spans)})")
        self.n_examples = len(texts)
        gaz: dict[tuple[str, ...], Counter[str]] = defaultdict(Counter)
        X: list[dict[str, Any]] = []
        y: list[str] = []
        labels: set[str] = set()
        for text, sp in zip(texts, spans, strict=True):
            toks = tokenize(text)
            words = [text[a:b] for a, b in toks]
            tags = ["O"] * len(toks)
            for start, end, label in sp:
                if not 0 <= start < end <= len(text):
                    raise InvalidAnnotationError(
                        f"span ({start}, {end}) lies outside a text of length {len(text)}; "
                        "offsets must be character positions with start < end")
                inside = [i for i, (a, b) in enumerate(toks) if a < end and b > start]
                if not inside:
                    continue
                labels.add(label)
                for j, i in enumerate(inside):
                    tags[i] = ("B-" if j == 0 else "I-") + label
                gaz[tuple(words[i].lower() for i in inside)][label] += 1
            for i in range(len(words)):
                X.append(_features(words, i))
                y.append(tags[i])
        self.gazetteer = dict(gaz)
        self._max_len = max((len(k) for k in gaz), default=0)
        self.labels = tuple(sorted(labels))
        self._vec = self._clf = None
        if len(set(y)) >= 2:
            _require_sklearn()
            from sklearn.feature_extraction import DictVectorizer
            from sklearn.linear_model import LogisticRegression

            self._vec = DictVectorizer()
            self._clf = LogisticRegression(C=self.c, max_iter=1000)
            self._clf.fit(self._vec.fit_transform(X), y)
        return self

    def to_state(self) -> State:
        """The fitted tagger as a JSON header and arrays (see the module docstring)."""
        arrays: dict[str, Any] = {}
        meta: dict[str, Any] = {"strategy": self.strategy, "c": self.c, "labels": list(self.labels),
                                "n_examples": self.n_examples, "max_len": self._max_len,
                                "gazetteer": [[list(k), dict(v)] for k, v in self.gazetteer.items()],
                                "features": None, "lr": None}
        if self._clf is not None:
            meta["features"] = [str(f) for f in self._vec.feature_names_]
            meta["lr"] = _lr_to_state(self._clf, "lr.", arrays)
        return meta, arrays

    @classmethod
    def from_state(cls, meta: dict[str, Any], arrays: dict[str, Any]) -> SpanTagger:
        """Rebuild a tagger from :meth:`to_state` output."""
        t = cls(strategy=meta["strategy"], c=float(meta["c"]))
        t.labels = tuple(str(x) for x in meta["labels"])
        t.n_examples = int(meta["n_examples"])
        t._max_len = int(meta["max_len"])
        t.gazetteer = {tuple(str(w) for w in k): Counter({str(a): int(b) for a, b in v.items()})
                       for k, v in meta["gazetteer"]}
        if meta["lr"] is not None:
            _require_sklearn()
            from sklearn.feature_extraction import DictVectorizer

            vec = DictVectorizer()
            vec.feature_names_ = [str(f) for f in meta["features"]]
            vec.vocabulary_ = {f: i for i, f in enumerate(vec.feature_names_)}
            t._vec = vec
            t._clf = _lr_from_state(meta["lr"], "lr.", arrays)
        return t

    def _token_probs(self, words: list[str]) -> tuple[list[str], np.ndarray[Any, np.dtype[np.float64]]] | None:
        if self._clf is None or not words:
            return None
        p = np.asarray(self._clf.predict_proba(self._vec.transform([_features(words, i) for i in range(len(words))])))
        classes = [str(c) for c in self._clf.classes_]
        return [classes[int(k)] for k in p.argmax(axis=1)], p

    def score_text(self, text: str) -> float:
        """Confidence of the least confident token in ``text`` (0.0 without a token classifier)."""
        toks = tokenize(text)
        tp = self._token_probs([text[a:b] for a, b in toks])
        if tp is None:
            return 0.0
        return float(confidence(tp[1], self.strategy).min())

    def predict(self, text: str) -> list[SpanPrediction]:
        """Labeled spans in ``text``, sorted by start, non-overlapping."""
        if self.is_cold:
            return []
        toks = tokenize(text)
        words = [text[a:b] for a, b in toks]
        lw = [w.lower() for w in words]
        out: list[SpanPrediction] = []
        taken = [False] * len(toks)
        i = 0
        while i < len(toks):
            for n in range(min(self._max_len, len(toks) - i), 0, -1):
                counts = self.gazetteer.get(tuple(lw[i:i + n]))
                if counts:
                    label, c = counts.most_common(1)[0]
                    a, b = toks[i][0], toks[i + n - 1][1]
                    out.append(SpanPrediction(start=a, end=b, text=text[a:b], label=label,
                                              score=c / sum(counts.values())))
                    for j in range(i, i + n):
                        taken[j] = True
                    i += n
                    break
            else:
                i += 1
        tp = self._token_probs(words)
        if tp is not None:
            tags, p = tp
            best = p.max(axis=1)
            i = 0
            while i < len(toks):
                tag = tags[i]
                if tag == "O" or taken[i]:
                    i += 1
                    continue
                label = tag[2:]
                j = i + 1
                while j < len(toks) and tags[j] == "I-" + label and not taken[j]:
                    j += 1
                a, b = toks[i][0], toks[j - 1][1]
                out.append(SpanPrediction(start=a, end=b, text=text[a:b], label=label,
                                          score=float(best[i:j].mean())))
                i = j
        out.sort(key=lambda s: s.start)
        return out
