"""The logistic regression intent classifier stored as NumPy arrays (addons/classifier.py).

It must predict exactly what Rasa's LogisticRegressionClassifier predicts, and its
model file must load without pickle.
"""

from __future__ import annotations

from pathlib import Path
from typing import List, Tuple, Type

import numpy as np
import pytest
import scipy.sparse
from rasa.engine.graph import ExecutionContext, GraphSchema
from rasa.engine.storage.local_model_storage import LocalModelStorage
from rasa.engine.storage.resource import Resource
from rasa.nlu.classifiers.logistic_regression_classifier import LogisticRegressionClassifier
from rasa.nlu.constants import TOKENS_NAMES
from rasa.shared.nlu.constants import (
    FEATURE_TYPE_SENTENCE,
    FEATURE_TYPE_SEQUENCE,
    INTENT,
    INTENT_RANKING_KEY,
    TEXT,
)
from rasa.shared.nlu.training_data.features import Features
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from addons.classifier import NumpyLogisticRegressionClassifier

INTENTS = ["ask_cost", "ask_safety", "greet", "report_risk"]
CONFIG = {"max_iter": 1000, "solver": "lbfgs", "tol": 0.0001, "random_state": 42}


def messages(count: int, seed: int, with_intent: bool = True) -> List[Message]:
    """Messages with random sparse sentence features, roughly separable by intent."""
    rng = np.random.default_rng(seed)
    result = []
    for i in range(count):
        intent = INTENTS[i % len(INTENTS)]
        dense = rng.random(40) * (rng.random(40) > 0.8)
        dense[INTENTS.index(intent) * 10 : INTENTS.index(intent) * 10 + 3] += 1.0
        data = {TEXT: f"message {i}"}
        if with_intent:
            data[INTENT] = intent
        message = Message(data=data)
        for kind, rows in ((FEATURE_TYPE_SEQUENCE, 2), (FEATURE_TYPE_SENTENCE, 1)):
            matrix = scipy.sparse.coo_matrix(np.tile(dense, (rows, 1)))
            message.add_features(Features(matrix, kind, TEXT, "CountVectorsFeaturizer"))
        message.set(TOKENS_NAMES[TEXT], [])
        result.append(message)
    return result


def train(
    cls: Type[LogisticRegressionClassifier], storage_dir: Path, name: str
) -> Tuple[LocalModelStorage, Resource, ExecutionContext]:
    storage_dir.mkdir(parents=True, exist_ok=True)
    storage = LocalModelStorage(storage_dir)
    resource = Resource(name)
    context = ExecutionContext(GraphSchema({}), name)
    component = cls.create({**cls.get_default_config(), **CONFIG}, storage, resource, context)
    component.train(TrainingData(messages(80, seed=1)))
    return storage, resource, context


def ranking(component: LogisticRegressionClassifier) -> List[list]:
    processed = component.process(messages(20, seed=2, with_intent=False))
    return [
        [(e["name"], round(float(e["confidence"]), 12)) for e in m.get(INTENT_RANKING_KEY)]
        + [("top", m.get(INTENT)["name"], round(float(m.get(INTENT)["confidence"]), 12))]
        for m in processed
    ]


def test_predicts_exactly_like_rasas_classifier(tmp_path: Path) -> None:
    ours = NumpyLogisticRegressionClassifier.load(
        {**NumpyLogisticRegressionClassifier.get_default_config(), **CONFIG},
        *train(NumpyLogisticRegressionClassifier, tmp_path / "ours", "ours"),
    )
    rasas = LogisticRegressionClassifier.load(
        {**LogisticRegressionClassifier.get_default_config(), **CONFIG},
        *train(LogisticRegressionClassifier, tmp_path / "rasa", "rasa"),
    )
    assert ranking(ours) == ranking(rasas)
    top = ours.process(messages(4, seed=3, with_intent=False))
    assert [m.get(INTENT)["name"] for m in top] == INTENTS


def with_dense(items: List[Message], seed: int) -> List[Message]:
    """Adds a dense sentence feature (like a sentence embedding) to each message."""
    rng = np.random.default_rng(seed)
    for message in items:
        vector = rng.normal(size=(1, 8)).astype(np.float32)
        message.add_features(Features(vector, FEATURE_TYPE_SENTENCE, TEXT, "SentenceEmbeddingFeaturizer"))
    return items


def test_dense_sentence_features_predict_like_rasas_classifier(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import sys

    this = sys.modules[__name__]
    original = this.messages
    monkeypatch.setattr(
        this,
        "messages",
        lambda count, seed, with_intent=True: with_dense(original(count, seed, with_intent), seed),
    )
    ours = NumpyLogisticRegressionClassifier.load(
        {**NumpyLogisticRegressionClassifier.get_default_config(), **CONFIG},
        *train(NumpyLogisticRegressionClassifier, tmp_path / "ours", "ours"),
    )
    rasas = LogisticRegressionClassifier.load(
        {**LogisticRegressionClassifier.get_default_config(), **CONFIG},
        *train(LogisticRegressionClassifier, tmp_path / "rasa", "rasa"),
    )
    assert ours.clf.coef_.shape[1] == 48  # 40 sparse + 8 dense columns
    message = this.messages(1, seed=4, with_intent=False)[0]
    assert ours._probabilities(message) is not None  # the fast path, not Rasa's
    for a, b in zip(ranking(ours), ranking(rasas), strict=True):
        assert [e[0] for e in a] == [e[0] for e in b]
        assert [e[-1] for e in a] == pytest.approx([e[-1] for e in b], abs=1e-9)


def test_features_of_the_wrong_width_take_rasas_path(tmp_path: Path) -> None:
    ours = NumpyLogisticRegressionClassifier.load(
        {**NumpyLogisticRegressionClassifier.get_default_config(), **CONFIG},
        *train(NumpyLogisticRegressionClassifier, tmp_path, "ours"),
    )
    message = messages(1, seed=4, with_intent=False)[0]
    assert ours._probabilities(message) is not None
    message.add_features(Features(np.zeros((1, 3)), FEATURE_TYPE_SENTENCE, TEXT, "SpacyFeaturizer"))
    assert ours._probabilities(message) is None


def test_model_file_is_plain_arrays(tmp_path: Path) -> None:
    storage, resource, _ = train(NumpyLogisticRegressionClassifier, tmp_path, "clf")
    with storage.read_from(resource) as model_dir:
        files = list(model_dir.iterdir())
        assert [f.suffix for f in files] == [".npz"]
        with np.load(files[0], allow_pickle=False) as data:  # would raise on objects
            assert list(data["classes_"]) == INTENTS


def test_missing_model_gives_an_untrained_classifier(tmp_path: Path) -> None:
    storage = LocalModelStorage(tmp_path)
    component = NumpyLogisticRegressionClassifier.load(
        NumpyLogisticRegressionClassifier.get_default_config(),
        storage,
        Resource("never-trained"),
        ExecutionContext(GraphSchema({}), "x"),
    )
    assert not hasattr(component.clf, "coef_")


def test_config_yml_uses_it() -> None:
    import yaml

    config = yaml.safe_load((Path(__file__).resolve().parent.parent / "config.yml").read_text())
    names = [c["name"] for c in config["pipeline"]]
    assert "addons.classifier.NumpyLogisticRegressionClassifier" in names
    assert "LogisticRegressionClassifier" not in names


@pytest.fixture(autouse=True)
def _quiet_sklearn(recwarn: pytest.WarningsRecorder) -> None:
    """sklearn's convergence warnings are irrelevant to the comparison."""
