"""The offline OpenCV predictors (``hog-person``, ``haar-face``) on drawn images, against OpenCV itself.

No photo ships with OpenCV or scikit-learn that shows a person or a face, so the scenes
are drawn: a dark stick figure on grey (HOG fires, SVM value about 4) and a cartoon face
(the Viola-Jones cascade fires). Boxes and scores are checked against direct OpenCV
calls and the documented squashing ``1 - exp(-max(w, 0))``.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

cv2 = pytest.importorskip("cv2")

from accord.core.errors import BadPredictorError  # noqa: E402
from accord.ml_backends.opencv_detectors import HaarFaceDetector, HogPersonDetector, squash_margin  # noqa: E402
from accord.ml_backends.predictors import Predictor, get_predictor  # noqa: E402


def stick_figure() -> np.ndarray:
    """A 200 x 120 RGB image: a dark person shape (head, body, arms, legs) centred at x = 60."""
    img = np.full((200, 120, 3), 220, np.uint8)
    c = (40, 40, 40)
    cv2.circle(img, (60, 45), 11, c, -1)
    cv2.ellipse(img, (60, 90), (18, 32), 0, 0, 360, c, -1)
    for a, b, t in (((52, 115), (45, 170), 9), ((68, 115), (75, 170), 9), ((44, 70), (34, 115), 7),
                    ((76, 70), (86, 115), 7)):
        cv2.line(img, a, b, c, t)
    return np.asarray(cv2.GaussianBlur(img, (3, 3), 1))


def cartoon_face() -> np.ndarray:
    """A 240 x 240 RGB image: an oval face with eyes, brows, nose and mouth centred at (120, 120)."""
    g = np.full((240, 240), 200, np.uint8)
    cv2.ellipse(g, (120, 120), (60, 80), 0, 0, 360, 150, -1)
    for cx in (95, 145):
        cv2.ellipse(g, (cx, 100), (14, 7), 0, 0, 360, 40, -1)
    cv2.line(g, (75, 82), (110, 85), 60, 4)
    cv2.line(g, (130, 85), (165, 82), 60, 4)
    cv2.ellipse(g, (120, 130), (6, 14), 0, 0, 360, 120, -1)
    cv2.ellipse(g, (120, 165), (25, 8), 0, 0, 360, 70, -1)
    g = cv2.GaussianBlur(g, (5, 5), 2)
    return np.repeat(g[..., None], 3, axis=2)


def test_squash_margin_known_values_and_bounds() -> None:
    # 1 - e^0 = 0; 1 - e^-1 = 0.6321; 1 - e^-3 = 0.9502
    assert squash_margin(0.0) == 0.0
    assert squash_margin(-2.0) == 0.0
    assert squash_margin(1.0) == pytest.approx(1 - math.exp(-1))
    assert squash_margin(3.0) == pytest.approx(0.950213, abs=1e-6)
    assert squash_margin(float("inf")) == 1.0
    ws = np.linspace(-5, 50, 200)
    s = [squash_margin(w) for w in ws]
    assert all(0.0 <= v <= 1.0 for v in s)
    assert s == sorted(s)  # monotone


def test_hog_person_finds_the_figure_and_scores_like_opencv() -> None:
    img = stick_figure()
    det = get_predictor("hog-person", win_stride="4")
    assert isinstance(det, Predictor)
    assert [(i.name, i.kind) for i in det.labels] == [("person", "box")]
    (p,) = det.predict(img)
    (x1, y1), (x2, y2) = p.points
    assert x1 < 60 < x2  # around the figure's axis
    assert y1 < 45  # above the head's centre
    assert y2 > 150  # down to the legs
    hog = cv2.HOGDescriptor()
    hog.setSVMDetector(cv2.HOGDescriptor_getDefaultPeopleDetector())
    rects, weights = hog.detectMultiScale(img, hitThreshold=0.0, winStride=(4, 4), scale=1.05)
    (rx, ry, rw, rh), w = rects[0], float(np.ravel(weights)[0])
    assert p.points == ((rx, ry), (rx + rw, ry + rh))
    assert p.score == pytest.approx(1 - math.exp(-w))
    assert 0.0 < p.score <= 1.0
    # a surer threshold than the figure's score drops it
    assert get_predictor("hog-person", win_stride=4, conf_threshold=min(1.0, p.score + 1e-3)).predict(img) == []


def test_haar_face_finds_the_cartoon_face_and_scores_like_opencv() -> None:
    img = cartoon_face()
    det = get_predictor("haar-face")
    (p,) = det.predict(img)
    (x1, y1), (x2, y2) = p.points
    assert x1 < 120 < x2  # around the eyes
    assert y1 < 100 < y2
    assert p.label == "face"
    clf = cv2.CascadeClassifier(cv2.data.haarcascades + "haarcascade_frontalface_default.xml")
    rects, _, weights = clf.detectMultiScale3(img[..., 0], scaleFactor=1.1, minNeighbors=5, minSize=(24, 24),
                                              outputRejectLevels=True)
    (rx, ry, rw, rh), w = rects[0], float(np.ravel(weights)[0])
    assert p.points == ((rx, ry), (rx + rw, ry + rh))
    assert p.score == pytest.approx(squash_margin(w))
    assert 0.0 <= p.score <= 1.0


@pytest.mark.parametrize("name", ["hog-person", "haar-face"])
def test_blank_and_tiny_images_give_nothing(name: str) -> None:
    det = get_predictor(name)
    assert det.predict(np.full((240, 240, 3), 128, np.uint8)) == []
    assert det.predict(np.zeros((10, 10), np.uint8)) == []
    with pytest.raises(BadPredictorError, match="expected a non-empty uint8 image"):
        det.predict(np.zeros((10, 10, 3), np.float64))


def test_bad_parameters() -> None:
    with pytest.raises(BadPredictorError, match="scale > 1"):
        HogPersonDetector(scale=1.0)
    with pytest.raises(BadPredictorError, match="bad hog-person parameter"):
        get_predictor("hog-person", win_stride="fast")
    with pytest.raises(BadPredictorError, match="cannot load the Haar cascade"):
        HaarFaceDetector(cascade="no_such_cascade.xml")
    with pytest.raises(BadPredictorError, match="does not take these parameters"):
        get_predictor("haar-face", colour="red")
    assert HaarFaceDetector(cascade="haarcascade_frontalface_alt2.xml").cascade_path().is_file()
