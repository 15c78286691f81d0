"""Generate accord's bundled sample project (seeded, deterministic).

Four Label Studio projects, exported as Label Studio 1.23 full JSON exports
(the export-snapshot shape, with annotators as user objects), each beside its
labeling config:

* ``images_boxes``: 40 street images, boxes of Car / Person / Bicycle.
* ``text_sentiment``: 60 customer messages in three languages, one sentiment each.
* ``text_ner``: 30 sentences with PER / ORG / LOC spans.
* ``audio_transcripts``: 20 short clips: speaker turns and a transcript.

Three annotators with known, planted habits, so the QA report has something
to find:

* ``alice@example.com``: careful; small jitter only.
* ``bob@example.com``: fast (short lead times), loose boxes, misses small
  objects, sloppy span boundaries (takes the trailing punctuation), drops words.
* ``carol@example.com``: confuses Bicycle with Person, draws extra boxes,
  leans to "Neutral" on German messages, misses LOC spans.

``lead@example.com`` made ground-truth (gold) annotations on a few items of
each project, and a model (``detector-v1`` / ``sentiment-v1``) left
predictions. Run ``python scripts/make_sample.py`` to rewrite
``core/data/sample/``; the output is byte-identical for the same seed.
"""

from __future__ import annotations

import argparse
import json
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import numpy as np

OUT = Path(__file__).resolve().parents[1] / "core" / "data" / "sample"
ANNOTATORS = ["alice@example.com", "bob@example.com", "carol@example.com"]
LEAD = "lead@example.com"
USER_IDS = {LEAD: 1, ANNOTATORS[0]: 2, ANNOTATORS[1]: 3, ANNOTATORS[2]: 4}
# Lead time (seconds) per annotator: lognormal medians. Bob is fast.
SPEED = {ANNOTATORS[0]: 1.0, ANNOTATORS[1]: 0.55, ANNOTATORS[2]: 1.25, LEAD: 1.4}
T0 = datetime(2026, 11, 2, 9, 0, tzinfo=timezone.utc)


class Builder:
    """Accumulates tasks with Label Studio's export shape."""

    def __init__(self, rng: np.random.Generator, project: int) -> None:
        self.rng = rng
        self.project = project
        self.tasks: list[dict[str, Any]] = []
        self.next_annotation = 1
        self.clock = T0

    def annotation(self, user: str, result: list[dict[str, Any]], *, base_s: float,
                   ground_truth: bool = False, cancelled: bool = False) -> dict[str, Any]:
        lead = float(np.round(base_s * SPEED[user] * self.rng.lognormal(0.0, 0.35), 1))
        self.clock += timedelta(seconds=lead + float(self.rng.integers(5, 90)))
        stamp = self.clock.isoformat().replace("+00:00", "Z")
        ann = {
            "id": self.next_annotation,
            "completed_by": {"id": USER_IDS[user], "email": user, "first_name": "", "last_name": ""},
            "result": [] if cancelled else result,
            "was_cancelled": cancelled,
            "ground_truth": ground_truth,
            "created_at": stamp,
            "updated_at": stamp,
            "lead_time": lead,
            "task": len(self.tasks) + 1,
            "project": self.project,
        }
        self.next_annotation += 1
        return ann

    def task(self, data: dict[str, Any], annotations: list[dict[str, Any]],
             predictions: list[dict[str, Any]], meta: dict[str, Any] | None = None) -> None:
        tid = len(self.tasks) + 1
        for a in annotations:
            a["task"] = tid
        self.tasks.append({
            "id": tid, "data": data, "meta": meta or {}, "annotations": annotations,
            "predictions": predictions, "project": self.project,
            "total_annotations": sum(not a["was_cancelled"] for a in annotations),
            "cancelled_annotations": sum(a["was_cancelled"] for a in annotations),
            "total_predictions": len(predictions),
        })


def _rid(rng: np.random.Generator) -> str:
    return "".join(rng.choice(list("abcdefghijklmnopqrstuvwxyz0123456789"), 10))


# ----------------------------------------------------------------------------- images

BOX_CONFIG = """<View>
  <Image name="image" value="$image"/>
  <RectangleLabels name="objects" toName="image">
    <Label value="Car" background="#1f77b4"/>
    <Label value="Person" background="#ff7f0e"/>
    <Label value="Bicycle" background="#2ca02c"/>
  </RectangleLabels>
</View>
"""


def _box_result(rng: np.random.Generator, label: str, box: tuple[float, float, float, float],
                w: int, h: int) -> dict[str, Any]:
    x, y, bw, bh = box
    x, y = max(0.0, x), max(0.0, y)
    bw, bh = min(bw, w - x), min(bh, h - y)
    return {
        "id": _rid(rng), "from_name": "objects", "to_name": "image", "type": "rectanglelabels",
        "original_width": w, "original_height": h, "image_rotation": 0,
        "value": {"x": round(100 * x / w, 4), "y": round(100 * y / h, 4),
                  "width": round(100 * bw / w, 4), "height": round(100 * bh / h, 4),
                  "rotation": 0, "rectanglelabels": [label]},
    }


def images(rng: np.random.Generator, n: int = 40) -> tuple[list[dict[str, Any]], str]:
    b = Builder(rng, project=1)
    w, h = 640, 480
    sizes = {"Car": (150, 90), "Person": (45, 110), "Bicycle": (80, 55)}
    for i in range(n):
        objs = []
        for _ in range(int(rng.integers(2, 7))):
            label = str(rng.choice(["Car", "Person", "Bicycle"], p=[0.45, 0.35, 0.2]))
            sw, sh = sizes[label]
            s = float(rng.uniform(0.45, 1.4))
            bw, bh = sw * s, sh * s
            objs.append((label, (float(rng.uniform(0, w - bw)), float(rng.uniform(0, h - bh)), bw, bh)))

        def draw(user: str, objs: list[tuple[str, tuple[float, float, float, float]]] = objs,
                 ) -> list[dict[str, Any]]:
            out = []
            for label, (x, y, bw, bh) in objs:
                jit = 1.5
                lab = label
                if user == "bob@example.com":
                    if bw * bh < 3500 and rng.random() < 0.5:
                        continue  # misses small objects
                    jit = 9.0  # loose boxes
                if user == "carol@example.com" and label == "Bicycle" and rng.random() < 0.6:
                    lab = "Person"
                dx, dy = rng.normal(0, jit, 2)
                dw, dh = rng.normal(0, jit, 2) + (8.0 if user == "bob@example.com" else 0.0)
                out.append(_box_result(rng, lab, (x + dx, y + dy, max(4.0, bw + dw), max(4.0, bh + dh)), w, h))
            if user == "carol@example.com" and rng.random() < 0.3:
                out.append(_box_result(rng, "Person", (float(rng.uniform(0, w - 50)),
                                                        float(rng.uniform(0, h - 120)), 40.0, 100.0), w, h))
            return out

        anns = [b.annotation(u, draw(u), base_s=8.0 + 6.0 * len(objs)) for u in ANNOTATORS]
        if i % 5 == 0:
            gold = [_box_result(rng, lb, bx, w, h) for lb, bx in objs]
            anns.append(b.annotation(LEAD, gold, base_s=8.0 + 6.0 * len(objs), ground_truth=True))
        pred = [_box_result(rng, lb, (x + rng.normal(0, 4), y + rng.normal(0, 4), bw, bh), w, h)
                for lb, (x, y, bw, bh) in objs if rng.random() < 0.85]
        for r in pred:
            r["score"] = round(float(rng.uniform(0.5, 0.99)), 3)
        predictions = [{"id": i + 1, "result": pred, "model_version": "detector-v1",
                        "score": round(float(np.mean([r["score"] for r in pred])) if pred else 0.0, 3)}]
        b.task({"image": f"/data/upload/1/street_{i:03d}.jpg"}, anns, predictions,
               meta={"site": ["north", "south"][i % 2], "camera": ["cam-a", "cam-b"][(i // 2) % 2]})
    return b.tasks, BOX_CONFIG


# ----------------------------------------------------------------------------- sentiment

SENTIMENT_CONFIG = """<View>
  <Text name="text" value="$text"/>
  <Choices name="sentiment" toName="text" choice="single" showInline="true">
    <Choice value="Positive"/>
    <Choice value="Negative"/>
    <Choice value="Neutral"/>
  </Choices>
</View>
"""

MESSAGES = {
    "en": {"Positive": ["Great service, thank you!", "The delivery was fast and the product works.",
                        "Love the new app update."],
           "Negative": ["My order arrived broken.", "Nobody answered my emails for a week.",
                        "The refund still has not arrived."],
           "Neutral": ["I ordered on Monday.", "Can you send the invoice again?",
                       "The parcel is at the post office."]},
    "de": {"Positive": ["Toller Service, danke!", "Die Lieferung war schnell.",
                        "Das Update gefällt mir sehr."],
           "Negative": ["Meine Bestellung kam kaputt an.", "Niemand hat geantwortet.",
                        "Die Erstattung fehlt immer noch."],
           "Neutral": ["Ich habe am Montag bestellt.", "Bitte senden Sie die Rechnung erneut.",
                       "Das Paket liegt bei der Post."]},
    "es": {"Positive": ["¡Excelente servicio, gracias!", "La entrega fue rápida.",
                        "Me encanta la nueva versión."],
           "Negative": ["Mi pedido llegó roto.", "Nadie respondió en una semana.",
                        "El reembolso no ha llegado."],
           "Neutral": ["Pedí el lunes.", "¿Pueden enviar la factura otra vez?",
                       "El paquete está en correos."]},
}


def _choice(rng: np.random.Generator, label: str) -> list[dict[str, Any]]:
    return [{"id": _rid(rng), "from_name": "sentiment", "to_name": "text", "type": "choices",
             "value": {"choices": [label]}}]


def sentiment(rng: np.random.Generator, n: int = 60) -> tuple[list[dict[str, Any]], str]:
    b = Builder(rng, project=2)
    labels = ["Positive", "Negative", "Neutral"]
    for i in range(n):
        lang = ["en", "de", "es"][i % 3]
        truth = str(rng.choice(labels))
        text = str(rng.choice(MESSAGES[lang][truth]))
        anns = []
        for u in ANNOTATORS:
            lab = truth
            if rng.random() < {"alice@example.com": 0.05, "bob@example.com": 0.15,
                               "carol@example.com": 0.1}[u]:
                lab = str(rng.choice([x for x in labels if x != truth]))
            if u == "carol@example.com" and lang == "de" and rng.random() < 0.5:
                lab = "Neutral"
            skipped = u == "bob@example.com" and i % 17 == 16
            anns.append(b.annotation(u, _choice(rng, lab), base_s=6.0, cancelled=skipped))
        if i % 6 == 0:
            anns.append(b.annotation(LEAD, _choice(rng, truth), base_s=6.0, ground_truth=True))
        probs = rng.dirichlet(np.ones(3) * 0.6)
        probs[labels.index(truth)] += 0.8
        probs /= probs.sum()
        top = int(np.argmax(probs))
        pred = [{"id": i + 1, "result": _choice(rng, labels[top]), "model_version": "sentiment-v1",
                 "score": round(float(probs[top]), 3)}]
        b.task({"text": text}, anns, pred, meta={"language": lang})
    return b.tasks, SENTIMENT_CONFIG


# ----------------------------------------------------------------------------- NER

NER_CONFIG = """<View>
  <Labels name="entities" toName="text">
    <Label value="PER"/>
    <Label value="ORG"/>
    <Label value="LOC"/>
  </Labels>
  <Text name="text" value="$text"/>
</View>
"""

PEOPLE = ["Ada Lovelace", "Alan Turing", "Grace Hopper", "Katherine Johnson", "Tim Berners-Lee"]
ORGS = ["Acme Corp", "the United Nations", "Globex", "Initech", "the Red Cross"]
PLACES = ["Paris", "Nairobi", "Lima", "Osaka", "Reykjavik"]
TEMPLATES = ["{PER} joined {ORG} in {LOC}.", "{ORG} opened an office in {LOC}.",
             "{PER} visited {LOC} last spring.", "In {LOC}, {PER} met the board of {ORG}."]


def _span(rng: np.random.Generator, text: str, start: int, end: int, label: str) -> dict[str, Any]:
    return {"id": _rid(rng), "from_name": "entities", "to_name": "text", "type": "labels",
            "value": {"start": start, "end": end, "text": text[start:end], "labels": [label]}}


def ner(rng: np.random.Generator, n: int = 30) -> tuple[list[dict[str, Any]], str]:
    b = Builder(rng, project=3)
    for i in range(n):
        tpl = str(rng.choice(TEMPLATES))
        fill = {"PER": str(rng.choice(PEOPLE)), "ORG": str(rng.choice(ORGS)), "LOC": str(rng.choice(PLACES))}
        text, spans = "", []
        for part in tpl.replace("{", "\x00{").replace("}", "}\x00").split("\x00"):
            if part.startswith("{"):
                label = part[1:-1]
                spans.append((len(text), len(text) + len(fill[label]), label))
                text += fill[label]
            else:
                text += part
        anns = []
        for u in ANNOTATORS:
            res = []
            for s, e, lab in spans:
                if u == "carol@example.com" and lab == "LOC" and rng.random() < 0.4:
                    continue
                if u == "bob@example.com" and e < len(text) and text[e] in ".," and rng.random() < 0.5:
                    e += 1  # takes the punctuation too
                if u == "alice@example.com" and rng.random() < 0.04:
                    lab = "ORG" if lab == "LOC" else lab
                res.append(_span(rng, text, s, e, lab))
            anns.append(b.annotation(u, res, base_s=10.0))
        if i % 5 == 0:
            anns.append(b.annotation(LEAD, [_span(rng, text, s, e, lab) for s, e, lab in spans],
                                     base_s=10.0, ground_truth=True))
        b.task({"text": text}, anns, [])
    return b.tasks, NER_CONFIG


# ----------------------------------------------------------------------------- audio

AUDIO_CONFIG = """<View>
  <Audio name="audio" value="$audio"/>
  <Labels name="speaker" toName="audio">
    <Label value="Agent"/>
    <Label value="Customer"/>
  </Labels>
  <TextArea name="transcript" toName="audio" rows="3" editable="true" maxSubmissions="1"/>
</View>
"""

WORDS = (  # noqa: SIM905
    'hello thanks for calling how can i help you my '
    'card was charged twice let me check that for you '
    'one moment please the second charge is pending it will '
    'be released in three days '
).split()


def _drop_words(rng: np.random.Generator, words: list[str], rate: float) -> list[str]:
    out = []
    for w in words:
        r = rng.random()
        if r < rate / 2:
            continue
        out.append(str(rng.choice(WORDS)) if r < rate else w)
    return out


def audio(rng: np.random.Generator, n: int = 20) -> tuple[list[dict[str, Any]], str]:
    b = Builder(rng, project=4)
    for i in range(n):
        turns, t = [], 0.0
        for k in range(int(rng.integers(2, 5))):
            d = float(rng.uniform(1.5, 5.0))
            turns.append((round(t, 2), round(t + d, 2), ["Agent", "Customer"][k % 2]))
            t += d + float(rng.uniform(0.1, 0.6))
        words = [str(w) for w in rng.choice(WORDS, int(rng.integers(8, 18)))]
        anns = []
        for u in [*ANNOTATORS, LEAD] if i % 4 == 0 else ANNOTATORS:
            jit = {"alice@example.com": 0.05, "bob@example.com": 0.35, "carol@example.com": 0.1, LEAD: 0.0}[u]
            drop = {"alice@example.com": 0.03, "bob@example.com": 0.2, "carol@example.com": 0.08, LEAD: 0.0}[u]
            res = []
            for s, e, spk in turns:
                s2 = max(0.0, s + float(rng.normal(0, jit))) if jit else s
                e2 = max(s2 + 0.1, e + float(rng.normal(0, jit))) if jit else e
                res.append({"id": _rid(rng), "from_name": "speaker", "to_name": "audio",
                            "type": "labels", "original_length": round(t, 2),
                            "value": {"start": round(s2, 2), "end": round(e2, 2), "channel": 0,
                                      "labels": [spk]}})
            said = _drop_words(rng, words, drop) if drop else words
            res.append({"id": _rid(rng), "from_name": "transcript", "to_name": "audio",
                        "type": "textarea", "value": {"text": [" ".join(said)]}})
            anns.append(b.annotation(u, res, base_s=3.0 * t, ground_truth=(u == LEAD)))
        b.task({"audio": f"/data/upload/4/call_{i:03d}.wav"}, anns, [], meta={"channel": ["phone", "app"][i % 2]})
    return b.tasks, AUDIO_CONFIG


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seed", type=int, default=20261127)
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)
    args.out.mkdir(parents=True, exist_ok=True)
    for name, fn in (("images_boxes", images), ("text_sentiment", sentiment),
                     ("text_ner", ner), ("audio_transcripts", audio)):
        tasks, config = fn(rng)
        (args.out / f"{name}.json").write_text(json.dumps(tasks, indent=1, ensure_ascii=False) + "\n",
                                               encoding="utf-8")
        (args.out / f"{name}.label_config.xml").write_text(config, encoding="utf-8")
        n_ann = sum(len(t["annotations"]) for t in tasks)
        print(f"{name}: {len(tasks)} tasks, {n_ann} annotations")


if __name__ == "__main__":
    main()
