"""Rasa's LogisticRegressionClassifier, stored as plain NumPy arrays.

Training is Rasa's ``LogisticRegressionClassifier`` unchanged (the same scikit-learn
model), and so is every prediction. Two things differ:

**Prediction without the detours.** Rasa combines (and deep-copies) every feature of
the message, per-token ones included, stacks the sentence row into new sparse matrices
(``hstack``/``vstack`` with an empty dense block) and goes through scikit-learn's input
validation before the one matrix product that matters: a tenth of the Rasa server's
CPU time per message. Here the sentence features of the featurizers are stacked into
the same row and go straight into scikit-learn's own ``safe_sparse_dot`` and
``softmax``, the arithmetic ``predict_proba`` ends in for a multinomial model. Dense
sentence features (the sentence embeddings of ``addons/dense_featurizer.py``) follow
the sparse ones, in the order Rasa stacks them. The probabilities are Rasa's (to the
last bit for sparse features, to float rounding with dense ones); a binary or
one-vs-rest model takes Rasa's path.

**The file format.** Rasa 3.6
stores the fitted model with ``skops``, whose import, in a process that has already
imported TensorFlow (every ``rasa run`` has), scans all ~5,700 loaded modules once per
NumPy/SciPy ufunc: 10-25 s of the server's start-up on this machine. A logistic
regression is four arrays (classes, coefficients, intercepts, iterations), so they are
written to an ``.npz`` file and read back with ``allow_pickle=False``: nothing in the
model file can execute code, as with skops, and loading takes milliseconds.

Used in ``config.yml`` as ``addons.classifier.NumpyLogisticRegressionClassifier`` with
the same options as Rasa's component.
"""

from __future__ import annotations

import logging
from typing import Any, Dict, List, Optional, Text

import numpy as np
from rasa.engine.graph import ExecutionContext
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.nlu.classifiers.logistic_regression_classifier import LogisticRegressionClassifier
from rasa.shared.nlu.constants import FEATURE_TYPE_SENTENCE, INTENT, INTENT_RANKING_KEY, TEXT
from rasa.shared.nlu.training_data.message import Message
from rasa.utils.tensorflow.constants import RANKING_LENGTH
from sklearn.utils.extmath import safe_sparse_dot, softmax

logger = logging.getLogger(__name__)

ARRAYS = ("classes_", "coef_", "intercept_", "n_iter_")


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER, is_trainable=True)
class NumpyLogisticRegressionClassifier(LogisticRegressionClassifier):
    """Rasa's logistic regression intent classifier with a NumPy file format."""

    def persist(self) -> None:
        """Writes the fitted arrays (no pickle, no skops)."""
        with self._model_storage.write_to(self._resource) as model_dir:
            path = model_dir / f"{self._resource.name}.npz"
            arrays = {name: np.asarray(getattr(self.clf, name)) for name in ARRAYS}
            # Intent names as fixed-width unicode, never as Python objects.
            arrays["classes_"] = arrays["classes_"].astype(str)
            np.savez(path, **arrays)

    @classmethod
    def load(
        cls,
        config: Dict[Text, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
        **kwargs: Any,
    ) -> "NumpyLogisticRegressionClassifier":
        """Rebuilds the fitted classifier from its arrays."""
        component = cls(config, execution_context.node_name, model_storage, resource)
        try:
            with model_storage.read_from(resource) as model_dir:
                with np.load(model_dir / f"{resource.name}.npz", allow_pickle=False) as data:
                    arrays = {name: data[name] for name in ARRAYS}
        except (ValueError, FileNotFoundError, KeyError, OSError):
            # Like Rasa's component: no trained data (e.g. no intents), an untrained one.
            logger.debug("No trained %s in resource %s", cls.__name__, resource.name)
            return component
        clf = component.clf
        clf.classes_ = arrays["classes_"]  # unicode, as fit() leaves it
        clf.coef_ = arrays["coef_"]
        clf.intercept_ = arrays["intercept_"]
        clf.n_iter_ = arrays["n_iter_"]
        clf.n_features_in_ = clf.coef_.shape[1]
        return component

    def _multinomial(self) -> bool:
        """Whether predict_proba is a softmax over the decision function."""
        clf = self.clf
        if not hasattr(clf, "coef_"):
            return False
        ovr = clf.multi_class in ("ovr", "warn") or (
            clf.multi_class == "auto" and (clf.classes_.size <= 2 or clf.solver == "liblinear")
        )
        return not ovr

    def _weights(self) -> np.ndarray:
        """The coefficients transposed and contiguous, made once per fitted model."""
        if getattr(self, "_weights_of", None) is not self.clf.coef_:
            self._weights_t = np.ascontiguousarray(self.clf.coef_.T)
            self._weights_of = self.clf.coef_
        return self._weights_t

    def _probabilities(self, message: Message) -> Optional[np.ndarray]:
        """Class probabilities from the sentence features, or None for Rasa's path."""
        sparse: List[Any] = []
        dense: List[Any] = []
        for features in message.features:
            if features.attribute != TEXT or features.type != FEATURE_TYPE_SENTENCE:
                continue
            (sparse if features.is_sparse() else dense).append(features.features)
        if not sparse and not dense:
            return None
        # The row Rasa's _create_X builds: the sparse sentence features (featurizers in
        # pipeline order), then the dense ones, without combining and deep-copying the
        # per-token features too.
        width = sum(m.shape[1] for m in sparse) + sum(np.shape(m)[-1] for m in dense)
        if width != self.clf.coef_.shape[1] or any(int(np.shape(m)[0]) != 1 for m in sparse + dense):
            return None
        weights = self._weights()
        decision = np.zeros((1, weights.shape[1]))
        offset = 0
        for matrix in sparse:
            columns = matrix.shape[1]
            decision += safe_sparse_dot(matrix.tocsr(), weights[offset : offset + columns], dense_output=True)
            offset += columns
        for matrix in dense:
            columns = np.shape(matrix)[-1]
            decision += (
                np.asarray(matrix, dtype=np.float64).reshape(1, columns) @ weights[offset : offset + columns]
            )
            offset += columns
        decision += self.clf.intercept_
        return softmax(decision, copy=False)[0]

    def process(self, messages: List[Message]) -> List[Message]:
        """The most likely intent and the ranking, as Rasa's component sets them."""
        if not self._multinomial():
            return super().process(messages)
        for message in messages:
            probabilities = self._probabilities(message)
            if probabilities is None:
                super().process([message])
                continue
            ranking = [
                {"name": name, "confidence": confidence}
                for name, confidence in zip(self.clf.classes_, probabilities, strict=True)
            ]
            ranking.sort(key=lambda entry: -entry["confidence"])
            message.set(INTENT, ranking[0], add_to_output=True)
            if self.config[RANKING_LENGTH] > 0:
                ranking = ranking[: self.config[RANKING_LENGTH]]
            message.set(INTENT_RANKING_KEY, ranking, add_to_output=True)
        return messages
