"""all-MiniLM-L6-v2 as an ONNX graph, built in memory from the verified weights.

No ``.onnx`` file is downloaded or shipped: :func:`build_model` writes the BERT forward
pass with the ``onnx`` helper API from the very arrays :mod:`core.embeddings` laid out
after the sha256 check of ``model.safetensors`` (fused Q/K/V weights with the attention
scale folded into the query part, position + token-type-0 table summed once, (in, out)
matrices), so the graph's provenance is the checksum's. :func:`make_session` runs it with
ONNX Runtime on the CPU, one thread, graph optimisations on, sequential execution.

The graph (opset 17):

* inputs ``input_ids`` (int64, B x T) and ``attention_mask`` (int64, B x T, 1 for a real
  token, 0 for padding);
* ``Gather`` of the word embeddings plus ``Gather`` of the position (+ token type 0) rows
  for ``Range(0, T)``, then ``LayerNormalization`` (eps 1e-12);
* per layer: one ``MatMul`` + ``Add`` for Q/K/V, ``Split``, ``Reshape`` / ``Transpose``
  to heads, ``MatMul`` for the scores plus the mask bias ((1 - mask) x -1e9), ``Softmax``,
  ``MatMul`` with V, back to (B, T, 384), output projection, residual, LayerNorm, then the
  feed-forward block with the exact GELU (``Div`` by sqrt 2, ``Erf``, ``Add`` 1, ``Mul``,
  ``Mul`` 0.5: the pattern ONNX Runtime fuses into its Gelu kernel), residual, LayerNorm;
* outputs ``last_hidden_state`` (B x T x 384) and ``sentence_embedding`` (B x 384): the
  mean over the real tokens (``ReduceSum`` of the masked states / number of tokens), L2
  normalised (``ReduceL2``, floored at 1e-12, ``Div``).

:func:`quantize_int8` quantises the weight matrices of the graph built here to int8
(block-wise, with int8 products), in memory.
"""

from __future__ import annotations

import ctypes
import tempfile
from pathlib import Path
from typing import Any, List, Sequence, Tuple

import numpy as np

OPSET = 17
#: Bumped whenever the graph changes (kept in the model's metadata).
GRAPH_VERSION = "1"

INPUT_IDS = "input_ids"
ATTENTION_MASK = "attention_mask"
HIDDEN = "last_hidden_state"
SENTENCE = "sentence_embedding"

LayerWeights = Tuple[np.ndarray, ...]


def build_model(
    word_embeddings: np.ndarray,
    position_type: np.ndarray,
    embedding_norm: Tuple[np.ndarray, np.ndarray],
    layers: Sequence[LayerWeights],
    *,
    heads: int,
    eps: float,
    check: bool = False,
) -> Any:
    """The encoder as an ``onnx.ModelProto`` (weights as initialisers, opset 17).

    ``layers`` holds, per layer, the tuple :meth:`SentenceEncoder._prepare` makes:
    (Wqkv, bqkv, Wo, bo, g1, b1, Wi, bi, Wout, bout, g2, b2), matrices as (in, out).
    The weights are written once, straight into the model (no helper copies);
    ``check`` runs ``onnx.checker`` (a quarter of a second; the tests do).
    """
    import onnx
    from onnx import TensorProto, helper

    dim = word_embeddings.shape[1]
    head_size = dim // heads
    nodes: List[Any] = []
    model = onnx.ModelProto()
    graph = model.graph
    types = {np.dtype(np.float32): TensorProto.FLOAT, np.dtype(np.int64): TensorProto.INT64}

    def const(name: str, value: Any, dtype: Any = np.float32) -> str:
        array = np.ascontiguousarray(np.asarray(value, dtype=dtype))
        tensor = graph.initializer.add()
        tensor.name = name
        tensor.data_type = types[array.dtype]
        tensor.dims.extend(array.shape)
        tensor.raw_data = array.tobytes()
        return name

    def node(op: str, inputs: Sequence[str], output: str, **attrs: Any) -> str:
        nodes.append(helper.make_node(op, list(inputs), [output], name=output, **attrs))
        return output

    # Shared constants.
    const("word_embeddings", word_embeddings)
    const("position_type", position_type)
    const("i64_0", [0], np.int64)
    const("i64_1", [1], np.int64)
    const("i64_axis1", [1], np.int64)
    const("f_one", 1.0)
    const("f_half", 0.5)
    const("f_sqrt2", np.sqrt(2.0))
    const("f_mask_neg", -1e9)
    const("f_eps_norm", 1e-12)
    const("heads_shape", [0, 0, heads, head_size], np.int64)
    const("merge_shape", [0, 0, dim], np.int64)

    # Embeddings: word + (position + token type 0), LayerNorm.
    words = node("Gather", ["word_embeddings", INPUT_IDS], "emb_words", axis=0)
    shape = node("Shape", [INPUT_IDS], "ids_shape")
    length = node("Gather", [shape, "i64_1"], "seq_len_1d", axis=0)
    length = node("Squeeze", [length], "seq_len")
    zero = node("Squeeze", ["i64_0"], "zero_scalar")
    one = node("Squeeze", ["i64_1"], "one_scalar")
    positions = node("Range", [zero, length, one], "position_ids")
    pos = node("Gather", ["position_type", positions], "emb_positions", axis=0)
    x = node("Add", [words, pos], "emb_sum")
    x = node(
        "LayerNormalization",
        [x, const("emb_ln_g", embedding_norm[0]), const("emb_ln_b", embedding_norm[1])],
        "emb_ln",
        axis=-1,
        epsilon=eps,
    )

    # Mask: float (B, T), attention bias (B, 1, 1, T).
    mask = node("Cast", [ATTENTION_MASK], "mask_f", to=TensorProto.FLOAT)
    inverted = node("Sub", ["f_one", mask], "mask_inv")
    bias = node("Mul", [inverted, "f_mask_neg"], "mask_bias_2d")
    bias = node("Unsqueeze", [bias, const("bias_axes", [1, 2], np.int64)], "mask_bias")

    for index, (wqkv, bqkv, wo, bo, g1, b1, wi, bi, wout, bout, g2, b2) in enumerate(layers):
        p = f"l{index}_"
        qkv = node("MatMul", [x, const(p + "wqkv", wqkv)], p + "qkv_mm")
        qkv = node("Add", [qkv, const(p + "bqkv", bqkv)], p + "qkv")
        split = [p + "q", p + "k", p + "v"]
        nodes.append(
            helper.make_node(
                "Split",
                [qkv, const(p + "split", [dim, dim, dim], np.int64)],
                split,
                name=p + "split",
                axis=-1,
            )
        )
        q, k, v = (node("Reshape", [t, "heads_shape"], t + "_heads") for t in split)
        q = node("Transpose", [q], p + "q_t", perm=[0, 2, 1, 3])  # (B, H, T, D)
        k = node("Transpose", [k], p + "k_t", perm=[0, 2, 3, 1])  # (B, H, D, T)
        v = node("Transpose", [v], p + "v_t", perm=[0, 2, 1, 3])  # (B, H, T, D)
        scores = node("MatMul", [q, k], p + "scores")
        scores = node("Add", [scores, bias], p + "scores_masked")
        probs = node("Softmax", [scores], p + "probs", axis=-1)
        context = node("MatMul", [probs, v], p + "context")
        context = node("Transpose", [context], p + "context_t", perm=[0, 2, 1, 3])
        context = node("Reshape", [context, "merge_shape"], p + "context_merged")
        attended = node("MatMul", [context, const(p + "wo", wo)], p + "attn_mm")
        attended = node("Add", [attended, const(p + "bo", bo)], p + "attn_out")
        attended = node("Add", [attended, x], p + "attn_res")
        x = node(
            "LayerNormalization",
            [attended, const(p + "ln1_g", g1), const(p + "ln1_b", b1)],
            p + "ln1",
            axis=-1,
            epsilon=eps,
        )
        hidden = node("MatMul", [x, const(p + "wi", wi)], p + "ffn_in_mm")
        hidden = node("Add", [hidden, const(p + "bi", bi)], p + "ffn_in")
        # Exact GELU: x * 0.5 * (1 + erf(x / sqrt 2)).
        gate = node("Div", [hidden, "f_sqrt2"], p + "gelu_div")
        gate = node("Erf", [gate], p + "gelu_erf")
        gate = node("Add", [gate, "f_one"], p + "gelu_add")
        gate = node("Mul", [hidden, gate], p + "gelu_mul")
        gate = node("Mul", [gate, "f_half"], p + "gelu")
        out = node("MatMul", [gate, const(p + "wout", wout)], p + "ffn_out_mm")
        out = node("Add", [out, const(p + "bout", bout)], p + "ffn_out")
        out = node("Add", [out, x], p + "ffn_res")
        x = node(
            "LayerNormalization",
            [out, const(p + "ln2_g", g2), const(p + "ln2_b", b2)],
            p + "ln2" if index < len(layers) - 1 else HIDDEN,
            axis=-1,
            epsilon=eps,
        )

    # Mean pooling over the real tokens, then L2 normalisation.
    mask3 = node("Unsqueeze", [mask, const("mask_axes", [-1], np.int64)], "mask_3d")
    masked = node("Mul", [x, mask3], "pool_masked")
    summed = node("ReduceSum", [masked, "i64_axis1"], "pool_sum", keepdims=0)
    count = node("ReduceSum", [mask3, "i64_axis1"], "pool_count", keepdims=0)
    count = node("Max", [count, "f_one"], "pool_count_safe")
    mean = node("Div", [summed, count], "pool_mean")
    norm = node("ReduceL2", [mean], "pool_norm", axes=[-1], keepdims=1)
    norm = node("Max", [norm, "f_eps_norm"], "pool_norm_safe")
    node("Div", [mean, norm], SENTENCE)

    graph.name = "all_minilm_l6_v2"
    graph.node.extend(nodes)
    graph.input.extend(
        [
            helper.make_tensor_value_info(INPUT_IDS, TensorProto.INT64, ["batch", "sequence"]),
            helper.make_tensor_value_info(ATTENTION_MASK, TensorProto.INT64, ["batch", "sequence"]),
        ]
    )
    graph.output.extend(
        [
            helper.make_tensor_value_info(HIDDEN, TensorProto.FLOAT, ["batch", "sequence", dim]),
            helper.make_tensor_value_info(SENTENCE, TensorProto.FLOAT, ["batch", dim]),
        ]
    )
    model.opset_import.extend([helper.make_opsetid("", OPSET)])
    # IR 8 (ONNX 1.13+): what opset 17 needs, readable by every ONNX Runtime since 1.14.
    model.ir_version = 8
    model.producer_name = "core.onnx_graph"
    model.producer_version = GRAPH_VERSION
    if check:
        onnx.checker.check_model(model)
    return model


def quantize_int8(model: Any, *, block_size: int = 32) -> bytes:
    """The model with its weight matrices quantised to int8, serialised.

    ONNX Runtime's block-wise weight quantiser (``MatMulNBitsQuantizer``, 8 bits,
    symmetric, one scale per ``block_size`` input rows of each output column) turns every
    ``MatMul`` with a constant weight (Q/K/V, attention output, both feed-forward
    products) into a ``com.microsoft.MatMulNBits`` with ``accuracy_level`` 4: the
    activations are quantised to int8 per block of ``block_size`` values of each row,
    and the products run in int8 (VNNI / AVX2 kernels). The attention products of two
    activations, the embeddings, LayerNorm, GELU and pooling stay float32. Done in
    memory; ``model`` is modified.

    Why not ``quantize_dynamic``: one activation scale per whole tensor loses too much on
    this model's outlier dimensions: on 400 of the project's training sentences its
    per-tensor build reached cosine 0.79 (worst) to the float32 vectors, per-channel
    weights 0.96, and its results changed with the batch's padding. Per-block activation
    scales give 0.997 worst, 0.9995 mean, the same vector whatever the batch.
    """
    import logging

    from onnxruntime.quantization.matmul_nbits_quantizer import (
        DefaultWeightOnlyQuantConfig,
        MatMulNBitsQuantizer,
    )

    config = DefaultWeightOnlyQuantConfig(
        block_size=block_size,
        is_symmetric=True,
        accuracy_level=4,
        bits=8,
        op_types_to_quantize=("MatMul",),
    )
    quantiser_logger = logging.getLogger("onnxruntime.quantization.matmul_nbits_quantizer")
    level = quantiser_logger.level
    quantiser_logger.setLevel(logging.WARNING)  # it logs every node at INFO
    try:
        quantiser = MatMulNBitsQuantizer(
            model, block_size=block_size, is_symmetric=True, accuracy_level=4, algo_config=config
        )
        quantiser.process()
        return bytes(quantiser.model.model.SerializeToString())
    finally:
        quantiser_logger.setLevel(level)


def make_session(model: Any, *, threads: int = 1) -> Any:
    """An ONNX Runtime CPU session for a ``ModelProto`` or serialised model bytes."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.log_severity_level = 3  # errors only
    # One thread: no spinning worker pool to burn the other core between calls.
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    data = model if isinstance(model, (bytes, bytearray)) else model.SerializeToString()
    # From a file, not from bytes: a session made from a buffer keeps its own copy of
    # the serialised model (about 90 MB more resident memory, measured). The file is
    # private to this process and gone once the session exists.
    with tempfile.TemporaryDirectory(prefix="clinic-embeddings-") as directory:
        path = Path(directory) / "model.onnx"
        path.write_bytes(data)
        del data
        return ort.InferenceSession(str(path), sess_options=options, providers=["CPUExecutionProvider"])


def release_freed_memory() -> None:
    """Returns memory freed after loading (model building copies) to the system, where
    the C library can (glibc's ``malloc_trim``); a no-op elsewhere."""
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass


def available() -> bool:
    """Whether both ``onnx`` and ``onnxruntime`` can be imported."""
    try:
        import onnx  # noqa: F401
        import onnxruntime  # noqa: F401
    except ImportError:
        return False
    return True


__all__ = [
    "ATTENTION_MASK",
    "GRAPH_VERSION",
    "HIDDEN",
    "INPUT_IDS",
    "OPSET",
    "SENTENCE",
    "available",
    "build_model",
    "make_session",
    "quantize_int8",
]
