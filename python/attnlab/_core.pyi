"""
attnlab's SIMD C++ core (private: use attnlab.functional)
"""
from __future__ import annotations
import collections.abc
import numpy
import numpy.typing
import typing
__all__: list[str] = ['AttentionOptions', 'DecoderLayerOptions', 'DecoderLayerSaved32', 'DecoderLayerSaved64', 'DropoutOption', 'EncoderLayerOptions', 'EncoderLayerSaved32', 'EncoderLayerSaved64', 'RopeOptions', 'activation_backward', 'activation_forward', 'adam_step', 'attention_backward', 'attention_blocks', 'attention_forward', 'available_archs', 'cached_empty', 'copy_into', 'cross_entropy_backward', 'cross_entropy_forward', 'current_arch', 'decoder_layer_backward', 'decoder_layer_forward', 'dropout_forward', 'embedding_backward', 'embedding_forward', 'encoder_layer_backward', 'encoder_layer_forward', 'force_arch', 'get_num_threads', 'layer_norm_backward', 'layer_norm_forward', 'linear_backward', 'linear_forward', 'matmul', 'peak_gflops', 'rms_norm_backward', 'rms_norm_forward', 'rope_forward', 'set_num_threads', 'sgd_step', 'softmax_backward', 'softmax_forward', 'workspace_cached_bytes', 'workspace_trim']
class AttentionOptions:
    """
    scale, causal, bottom_right, window_left, window_right, dropout_p, seed
    """
    bottom_right: bool
    causal: bool
    def __init__(self, *, scale: typing.SupportsFloat | typing.SupportsIndex = 1.0, causal: bool = False, bottom_right: bool = False, window_left: typing.SupportsInt | typing.SupportsIndex = 9223372036854775807, window_right: typing.SupportsInt | typing.SupportsIndex = 9223372036854775807, dropout_p: typing.SupportsFloat | typing.SupportsIndex = 0.0, seed: typing.SupportsInt | typing.SupportsIndex = 0) -> None:
        ...
    @property
    def dropout_p(self) -> float:
        ...
    @dropout_p.setter
    def dropout_p(self, arg0: typing.SupportsFloat | typing.SupportsIndex) -> None:
        ...
    @property
    def scale(self) -> float:
        ...
    @scale.setter
    def scale(self, arg0: typing.SupportsFloat | typing.SupportsIndex) -> None:
        ...
    @property
    def seed(self) -> int:
        ...
    @seed.setter
    def seed(self, arg0: typing.SupportsInt | typing.SupportsIndex) -> None:
        ...
    @property
    def window_left(self) -> int:
        ...
    @window_left.setter
    def window_left(self, arg0: typing.SupportsInt | typing.SupportsIndex) -> None:
        ...
    @property
    def window_right(self) -> int:
        ...
    @window_right.setter
    def window_right(self, arg0: typing.SupportsInt | typing.SupportsIndex) -> None:
        ...
class RopeOptions:
    """
    Rotary positions: rotary_dim, interleaved, base.
    """
    interleaved: bool
    def __init__(self) -> None:
        ...
    @property
    def base(self) -> float:
        ...
    @base.setter
    def base(self, arg0: typing.SupportsFloat | typing.SupportsIndex) -> None:
        ...
    @property
    def rotary_dim(self) -> int:
        ...
    @rotary_dim.setter
    def rotary_dim(self, arg0: typing.SupportsInt | typing.SupportsIndex) -> None:
        ...
class DropoutOption:
    """
    A dropout: p (0: none) and seed.
    """
    def __init__(self) -> None:
        ...
    @property
    def p(self) -> float:
        ...
    @p.setter
    def p(self, arg0: typing.SupportsFloat | typing.SupportsIndex) -> None:
        ...
    @property
    def seed(self) -> int:
        ...
    @seed.setter
    def seed(self, arg0: typing.SupportsInt | typing.SupportsIndex) -> None:
        ...
class EncoderLayerOptions:
    """
    The options of one encoder layer's fused forward.
    """
    activation: str
    attention_dropout: DropoutOption
    causal: bool
    dropout: DropoutOption
    dropout1: DropoutOption
    dropout2: DropoutOption
    norm_first: bool
    rope: RopeOptions
    rotary: bool
    def __init__(self) -> None:
        ...
    @property
    def norm1_eps(self) -> float:
        ...
    @norm1_eps.setter
    def norm1_eps(self, arg0: typing.SupportsFloat | typing.SupportsIndex) -> None:
        ...
    @property
    def norm2_eps(self) -> float:
        ...
    @norm2_eps.setter
    def norm2_eps(self, arg0: typing.SupportsFloat | typing.SupportsIndex) -> None:
        ...
class EncoderLayerSaved32:
    """
    A training forward's activations, for its backward.
    """
class EncoderLayerSaved64:
    """
    A training forward's activations, for its backward.
    """
class DecoderLayerOptions:
    """
    The options of one decoder layer's fused forward.
    """
    activation: str
    attention_dropout: DropoutOption
    causal: bool
    cross_attention_dropout: DropoutOption
    cross_kv_apart: bool
    dropout: DropoutOption
    dropout1: DropoutOption
    dropout2: DropoutOption
    dropout3: DropoutOption
    memory_causal: bool
    norm_first: bool
    rope: RopeOptions
    rotary: bool
    def __init__(self) -> None:
        ...
    @property
    def norm1_eps(self) -> float:
        ...
    @norm1_eps.setter
    def norm1_eps(self, arg0: typing.SupportsFloat | typing.SupportsIndex) -> None:
        ...
    @property
    def norm2_eps(self) -> float:
        ...
    @norm2_eps.setter
    def norm2_eps(self, arg0: typing.SupportsFloat | typing.SupportsIndex) -> None:
        ...
    @property
    def norm3_eps(self) -> float:
        ...
    @norm3_eps.setter
    def norm3_eps(self, arg0: typing.SupportsFloat | typing.SupportsIndex) -> None:
        ...
class DecoderLayerSaved32:
    """
    A decoder layer forward's activations, for its backward.
    """
class DecoderLayerSaved64:
    """
    A decoder layer forward's activations, for its backward.
    """
@typing.overload
def _exp(x: numpy.typing.NDArray[numpy.float32], variant: str = 'general') -> numpy.typing.NDArray[numpy.float32]:
    """
    exp(x) (or 2^x) by one of the SIMD kernels, for their accuracy tests.
    """
@typing.overload
def _exp(x: numpy.typing.NDArray[numpy.float64], variant: str = 'general') -> numpy.typing.NDArray[numpy.float64]:
    ...
def _fp_control() -> int:
    ...
def _pool_selftest(n: typing.SupportsInt | typing.SupportsIndex, fail_at: typing.SupportsInt | typing.SupportsIndex) -> int:
    ...
def _pool_selftest_nested(n: typing.SupportsInt | typing.SupportsIndex, inner: typing.SupportsInt | typing.SupportsIndex, calls: typing.SupportsInt | typing.SupportsIndex) -> int:
    ...
def _pool_selftest_unflushed(n: typing.SupportsInt | typing.SupportsIndex) -> int:
    ...
def _set_fp_control(word: typing.SupportsInt | typing.SupportsIndex) -> None:
    ...
@typing.overload
def activation_backward(kind: str, grad_out: numpy.typing.NDArray[numpy.float32], x: numpy.typing.NDArray[numpy.float32], dx: numpy.typing.NDArray[numpy.float32]) -> None:
    ...
@typing.overload
def activation_backward(kind: str, grad_out: numpy.typing.NDArray[numpy.float64], x: numpy.typing.NDArray[numpy.float64], dx: numpy.typing.NDArray[numpy.float64]) -> None:
    ...
@typing.overload
def activation_forward(kind: str, x: numpy.typing.NDArray[numpy.float32], out: numpy.typing.NDArray[numpy.float32]) -> None:
    ...
@typing.overload
def activation_forward(kind: str, x: numpy.typing.NDArray[numpy.float64], out: numpy.typing.NDArray[numpy.float64]) -> None:
    ...
def adam_step(params: list, grads: list, exp_avgs: list, exp_avg_sqs: list, max_exp_avg_sqs: list, steps: collections.abc.Sequence[typing.SupportsInt | typing.SupportsIndex], lr: typing.SupportsFloat | typing.SupportsIndex, beta1: typing.SupportsFloat | typing.SupportsIndex, beta2: typing.SupportsFloat | typing.SupportsIndex, eps: typing.SupportsFloat | typing.SupportsIndex, weight_decay: typing.SupportsFloat | typing.SupportsIndex, decoupled_weight_decay: bool, amsgrad: bool, maximize: bool) -> None:
    """
    One Adam/AdamW step of every parameter of a group, in place (torch.optim's update).
    """
@typing.overload
def attention_backward(grad_out: numpy.typing.NDArray[numpy.float32], q: numpy.typing.NDArray[numpy.float32], k: numpy.typing.NDArray[numpy.float32], v: numpy.typing.NDArray[numpy.float32], mask: numpy.ndarray | None, bias: numpy.ndarray | None, alibi_slopes: numpy.ndarray | None, options: AttentionOptions, dq: numpy.typing.NDArray[numpy.float32], dk: numpy.typing.NDArray[numpy.float32], dv: numpy.typing.NDArray[numpy.float32], dscores: numpy.typing.NDArray[numpy.float32] | None, out: numpy.typing.NDArray[numpy.float32] | None = None, row_max_base2: numpy.typing.NDArray[numpy.float32] | None = None, row_inv: numpy.typing.NDArray[numpy.float32] | None = None) -> None:
    ...
@typing.overload
def attention_backward(grad_out: numpy.typing.NDArray[numpy.float64], q: numpy.typing.NDArray[numpy.float64], k: numpy.typing.NDArray[numpy.float64], v: numpy.typing.NDArray[numpy.float64], mask: numpy.ndarray | None, bias: numpy.ndarray | None, alibi_slopes: numpy.ndarray | None, options: AttentionOptions, dq: numpy.typing.NDArray[numpy.float64], dk: numpy.typing.NDArray[numpy.float64], dv: numpy.typing.NDArray[numpy.float64], dscores: numpy.typing.NDArray[numpy.float64] | None, out: numpy.typing.NDArray[numpy.float64] | None = None, row_max_base2: numpy.typing.NDArray[numpy.float64] | None = None, row_inv: numpy.typing.NDArray[numpy.float64] | None = None) -> None:
    ...
@typing.overload
def attention_forward(q: numpy.typing.NDArray[numpy.float32], k: numpy.typing.NDArray[numpy.float32], v: numpy.typing.NDArray[numpy.float32], mask: numpy.ndarray | None, bias: numpy.ndarray | None, alibi_slopes: numpy.ndarray | None, options: AttentionOptions, out: numpy.typing.NDArray[numpy.float32], weights: numpy.typing.NDArray[numpy.float32] | None, row_max_base2: numpy.typing.NDArray[numpy.float32] | None = None, row_inv: numpy.typing.NDArray[numpy.float32] | None = None) -> None:
    ...
@typing.overload
def attention_forward(q: numpy.typing.NDArray[numpy.float64], k: numpy.typing.NDArray[numpy.float64], v: numpy.typing.NDArray[numpy.float64], mask: numpy.ndarray | None, bias: numpy.ndarray | None, alibi_slopes: numpy.ndarray | None, options: AttentionOptions, out: numpy.typing.NDArray[numpy.float64], weights: numpy.typing.NDArray[numpy.float64] | None, row_max_base2: numpy.typing.NDArray[numpy.float64] | None = None, row_inv: numpy.typing.NDArray[numpy.float64] | None = None) -> None:
    ...
def available_archs() -> list[str]:
    """
    Kernel instruction sets usable on this CPU, best first.
    """
def cached_empty(shape: collections.abc.Sequence[typing.SupportsInt | typing.SupportsIndex], dtype: typing.Any) -> numpy.ndarray:
    """
    An uninitialized C-contiguous array whose memory returns to the workspace cache.
    """
def copy_into(dst: numpy.ndarray, src: numpy.ndarray) -> None:
    """
    dst[...] = src for arrays of one shape and dtype whose last axes are contiguous, on the pool (the two must not overlap).
    """
@typing.overload
def cross_entropy_backward(row_grad: numpy.typing.NDArray[numpy.float32], logits: numpy.typing.NDArray[numpy.float32], target: numpy.typing.NDArray[numpy.int64], ignore_index: typing.SupportsInt | typing.SupportsIndex, label_smoothing: typing.SupportsFloat | typing.SupportsIndex, dlogits: numpy.typing.NDArray[numpy.float32]) -> None:
    ...
@typing.overload
def cross_entropy_backward(row_grad: numpy.typing.NDArray[numpy.float64], logits: numpy.typing.NDArray[numpy.float64], target: numpy.typing.NDArray[numpy.int64], ignore_index: typing.SupportsInt | typing.SupportsIndex, label_smoothing: typing.SupportsFloat | typing.SupportsIndex, dlogits: numpy.typing.NDArray[numpy.float64]) -> None:
    ...
@typing.overload
def cross_entropy_forward(logits: numpy.typing.NDArray[numpy.float32], target: numpy.typing.NDArray[numpy.int64], ignore_index: typing.SupportsInt | typing.SupportsIndex, label_smoothing: typing.SupportsFloat | typing.SupportsIndex, loss: numpy.typing.NDArray[numpy.float32]) -> None:
    ...
@typing.overload
def cross_entropy_forward(logits: numpy.typing.NDArray[numpy.float64], target: numpy.typing.NDArray[numpy.int64], ignore_index: typing.SupportsInt | typing.SupportsIndex, label_smoothing: typing.SupportsFloat | typing.SupportsIndex, loss: numpy.typing.NDArray[numpy.float64]) -> None:
    ...
def current_arch() -> str:
    """
    The instruction set kernels run on now.
    """
@typing.overload
def decoder_layer_backward(saved: DecoderLayerSaved32, x: numpy.typing.NDArray[numpy.float32], memory: numpy.typing.NDArray[numpy.float32], grad_out: numpy.typing.NDArray[numpy.float32], *, in_proj_weight: numpy.typing.NDArray[numpy.float32] | None = None, in_proj_bias: numpy.typing.NDArray[numpy.float32] | None = None, out_proj_weight: numpy.typing.NDArray[numpy.float32] | None = None, out_proj_bias: numpy.typing.NDArray[numpy.float32] | None = None, cross_in_proj_weight: numpy.typing.NDArray[numpy.float32] | None = None, cross_in_proj_bias: numpy.typing.NDArray[numpy.float32] | None = None, cross_out_proj_weight: numpy.typing.NDArray[numpy.float32] | None = None, cross_out_proj_bias: numpy.typing.NDArray[numpy.float32] | None = None, linear1_weight: numpy.typing.NDArray[numpy.float32] | None = None, linear1_bias: numpy.typing.NDArray[numpy.float32] | None = None, linear2_weight: numpy.typing.NDArray[numpy.float32] | None = None, linear2_bias: numpy.typing.NDArray[numpy.float32] | None = None, norm1_weight: numpy.typing.NDArray[numpy.float32] | None = None, norm1_bias: numpy.typing.NDArray[numpy.float32] | None = None, norm2_weight: numpy.typing.NDArray[numpy.float32] | None = None, norm2_bias: numpy.typing.NDArray[numpy.float32] | None = None, norm3_weight: numpy.typing.NDArray[numpy.float32] | None = None, norm3_bias: numpy.typing.NDArray[numpy.float32] | None = None, options: DecoderLayerOptions, heads: typing.SupportsInt | typing.SupportsIndex, kv_heads: typing.SupportsInt | typing.SupportsIndex, mask: numpy.ndarray | None = None, memory_mask: numpy.ndarray | None = None, alibi_slopes: numpy.typing.NDArray[numpy.float32] | None = None, dx: numpy.typing.NDArray[numpy.float32] | None = None, dmemory: numpy.typing.NDArray[numpy.float32] | None = None, d_in_proj_weight: numpy.typing.NDArray[numpy.float32] | None = None, d_in_proj_bias: numpy.typing.NDArray[numpy.float32] | None = None, d_out_proj_weight: numpy.typing.NDArray[numpy.float32] | None = None, d_out_proj_bias: numpy.typing.NDArray[numpy.float32] | None = None, d_cross_in_proj_weight: numpy.typing.NDArray[numpy.float32] | None = None, d_cross_in_proj_bias: numpy.typing.NDArray[numpy.float32] | None = None, d_cross_out_proj_weight: numpy.typing.NDArray[numpy.float32] | None = None, d_cross_out_proj_bias: numpy.typing.NDArray[numpy.float32] | None = None, d_linear1_weight: numpy.typing.NDArray[numpy.float32] | None = None, d_linear1_bias: numpy.typing.NDArray[numpy.float32] | None = None, d_linear2_weight: numpy.typing.NDArray[numpy.float32] | None = None, d_linear2_bias: numpy.typing.NDArray[numpy.float32] | None = None, d_norm1_weight: numpy.typing.NDArray[numpy.float32] | None = None, d_norm1_bias: numpy.typing.NDArray[numpy.float32] | None = None, d_norm2_weight: numpy.typing.NDArray[numpy.float32] | None = None, d_norm2_bias: numpy.typing.NDArray[numpy.float32] | None = None, d_norm3_weight: numpy.typing.NDArray[numpy.float32] | None = None, d_norm3_bias: numpy.typing.NDArray[numpy.float32] | None = None) -> None:
    """
    The gradients that have a destination (dx, dmemory, d_<parameter>) of the forward that returned saved.
    """
@typing.overload
def decoder_layer_backward(saved: DecoderLayerSaved64, x: numpy.typing.NDArray[numpy.float64], memory: numpy.typing.NDArray[numpy.float64], grad_out: numpy.typing.NDArray[numpy.float64], *, in_proj_weight: numpy.typing.NDArray[numpy.float64] | None = None, in_proj_bias: numpy.typing.NDArray[numpy.float64] | None = None, out_proj_weight: numpy.typing.NDArray[numpy.float64] | None = None, out_proj_bias: numpy.typing.NDArray[numpy.float64] | None = None, cross_in_proj_weight: numpy.typing.NDArray[numpy.float64] | None = None, cross_in_proj_bias: numpy.typing.NDArray[numpy.float64] | None = None, cross_out_proj_weight: numpy.typing.NDArray[numpy.float64] | None = None, cross_out_proj_bias: numpy.typing.NDArray[numpy.float64] | None = None, linear1_weight: numpy.typing.NDArray[numpy.float64] | None = None, linear1_bias: numpy.typing.NDArray[numpy.float64] | None = None, linear2_weight: numpy.typing.NDArray[numpy.float64] | None = None, linear2_bias: numpy.typing.NDArray[numpy.float64] | None = None, norm1_weight: numpy.typing.NDArray[numpy.float64] | None = None, norm1_bias: numpy.typing.NDArray[numpy.float64] | None = None, norm2_weight: numpy.typing.NDArray[numpy.float64] | None = None, norm2_bias: numpy.typing.NDArray[numpy.float64] | None = None, norm3_weight: numpy.typing.NDArray[numpy.float64] | None = None, norm3_bias: numpy.typing.NDArray[numpy.float64] | None = None, options: DecoderLayerOptions, heads: typing.SupportsInt | typing.SupportsIndex, kv_heads: typing.SupportsInt | typing.SupportsIndex, mask: numpy.ndarray | None = None, memory_mask: numpy.ndarray | None = None, alibi_slopes: numpy.typing.NDArray[numpy.float64] | None = None, dx: numpy.typing.NDArray[numpy.float64] | None = None, dmemory: numpy.typing.NDArray[numpy.float64] | None = None, d_in_proj_weight: numpy.typing.NDArray[numpy.float64] | None = None, d_in_proj_bias: numpy.typing.NDArray[numpy.float64] | None = None, d_out_proj_weight: numpy.typing.NDArray[numpy.float64] | None = None, d_out_proj_bias: numpy.typing.NDArray[numpy.float64] | None = None, d_cross_in_proj_weight: numpy.typing.NDArray[numpy.float64] | None = None, d_cross_in_proj_bias: numpy.typing.NDArray[numpy.float64] | None = None, d_cross_out_proj_weight: numpy.typing.NDArray[numpy.float64] | None = None, d_cross_out_proj_bias: numpy.typing.NDArray[numpy.float64] | None = None, d_linear1_weight: numpy.typing.NDArray[numpy.float64] | None = None, d_linear1_bias: numpy.typing.NDArray[numpy.float64] | None = None, d_linear2_weight: numpy.typing.NDArray[numpy.float64] | None = None, d_linear2_bias: numpy.typing.NDArray[numpy.float64] | None = None, d_norm1_weight: numpy.typing.NDArray[numpy.float64] | None = None, d_norm1_bias: numpy.typing.NDArray[numpy.float64] | None = None, d_norm2_weight: numpy.typing.NDArray[numpy.float64] | None = None, d_norm2_bias: numpy.typing.NDArray[numpy.float64] | None = None, d_norm3_weight: numpy.typing.NDArray[numpy.float64] | None = None, d_norm3_bias: numpy.typing.NDArray[numpy.float64] | None = None) -> None:
    """
    The gradients that have a destination (dx, dmemory, d_<parameter>) of the forward that returned saved.
    """
@typing.overload
def decoder_layer_forward(x: numpy.typing.NDArray[numpy.float32], memory: numpy.typing.NDArray[numpy.float32], *, in_proj_weight: numpy.typing.NDArray[numpy.float32] | None = None, in_proj_bias: numpy.typing.NDArray[numpy.float32] | None = None, out_proj_weight: numpy.typing.NDArray[numpy.float32] | None = None, out_proj_bias: numpy.typing.NDArray[numpy.float32] | None = None, cross_in_proj_weight: numpy.typing.NDArray[numpy.float32] | None = None, cross_in_proj_bias: numpy.typing.NDArray[numpy.float32] | None = None, cross_out_proj_weight: numpy.typing.NDArray[numpy.float32] | None = None, cross_out_proj_bias: numpy.typing.NDArray[numpy.float32] | None = None, linear1_weight: numpy.typing.NDArray[numpy.float32] | None = None, linear1_bias: numpy.typing.NDArray[numpy.float32] | None = None, linear2_weight: numpy.typing.NDArray[numpy.float32] | None = None, linear2_bias: numpy.typing.NDArray[numpy.float32] | None = None, norm1_weight: numpy.typing.NDArray[numpy.float32] | None = None, norm1_bias: numpy.typing.NDArray[numpy.float32] | None = None, norm2_weight: numpy.typing.NDArray[numpy.float32] | None = None, norm2_bias: numpy.typing.NDArray[numpy.float32] | None = None, norm3_weight: numpy.typing.NDArray[numpy.float32] | None = None, norm3_bias: numpy.typing.NDArray[numpy.float32] | None = None, options: DecoderLayerOptions, heads: typing.SupportsInt | typing.SupportsIndex, kv_heads: typing.SupportsInt | typing.SupportsIndex, mask: numpy.ndarray | None = None, memory_mask: numpy.ndarray | None = None, alibi_slopes: numpy.typing.NDArray[numpy.float32] | None = None, weights: numpy.typing.NDArray[numpy.float32] | None = None, cross_weights: numpy.typing.NDArray[numpy.float32] | None = None, out: numpy.typing.NDArray[numpy.float32], training: bool = False) -> typing.Any:
    """
    The layer's output into out; with training, returns what its backward needs.
    """
@typing.overload
def decoder_layer_forward(x: numpy.typing.NDArray[numpy.float64], memory: numpy.typing.NDArray[numpy.float64], *, in_proj_weight: numpy.typing.NDArray[numpy.float64] | None = None, in_proj_bias: numpy.typing.NDArray[numpy.float64] | None = None, out_proj_weight: numpy.typing.NDArray[numpy.float64] | None = None, out_proj_bias: numpy.typing.NDArray[numpy.float64] | None = None, cross_in_proj_weight: numpy.typing.NDArray[numpy.float64] | None = None, cross_in_proj_bias: numpy.typing.NDArray[numpy.float64] | None = None, cross_out_proj_weight: numpy.typing.NDArray[numpy.float64] | None = None, cross_out_proj_bias: numpy.typing.NDArray[numpy.float64] | None = None, linear1_weight: numpy.typing.NDArray[numpy.float64] | None = None, linear1_bias: numpy.typing.NDArray[numpy.float64] | None = None, linear2_weight: numpy.typing.NDArray[numpy.float64] | None = None, linear2_bias: numpy.typing.NDArray[numpy.float64] | None = None, norm1_weight: numpy.typing.NDArray[numpy.float64] | None = None, norm1_bias: numpy.typing.NDArray[numpy.float64] | None = None, norm2_weight: numpy.typing.NDArray[numpy.float64] | None = None, norm2_bias: numpy.typing.NDArray[numpy.float64] | None = None, norm3_weight: numpy.typing.NDArray[numpy.float64] | None = None, norm3_bias: numpy.typing.NDArray[numpy.float64] | None = None, options: DecoderLayerOptions, heads: typing.SupportsInt | typing.SupportsIndex, kv_heads: typing.SupportsInt | typing.SupportsIndex, mask: numpy.ndarray | None = None, memory_mask: numpy.ndarray | None = None, alibi_slopes: numpy.typing.NDArray[numpy.float64] | None = None, weights: numpy.typing.NDArray[numpy.float64] | None = None, cross_weights: numpy.typing.NDArray[numpy.float64] | None = None, out: numpy.typing.NDArray[numpy.float64], training: bool = False) -> typing.Any:
    """
    The layer's output into out; with training, returns what its backward needs.
    """
@typing.overload
def dropout_forward(x: numpy.typing.NDArray[numpy.float32], p: typing.SupportsFloat | typing.SupportsIndex, seed: typing.SupportsInt | typing.SupportsIndex, out: numpy.typing.NDArray[numpy.float32], first: typing.SupportsInt | typing.SupportsIndex = 0) -> None:
    ...
@typing.overload
def dropout_forward(x: numpy.typing.NDArray[numpy.float64], p: typing.SupportsFloat | typing.SupportsIndex, seed: typing.SupportsInt | typing.SupportsIndex, out: numpy.typing.NDArray[numpy.float64], first: typing.SupportsInt | typing.SupportsIndex = 0) -> None:
    ...
@typing.overload
def embedding_backward(grad_out: numpy.typing.NDArray[numpy.float32], indices: numpy.typing.NDArray[numpy.int64], padding_idx: typing.SupportsInt | typing.SupportsIndex, dweight: numpy.typing.NDArray[numpy.float32]) -> None:
    ...
@typing.overload
def embedding_backward(grad_out: numpy.typing.NDArray[numpy.float64], indices: numpy.typing.NDArray[numpy.int64], padding_idx: typing.SupportsInt | typing.SupportsIndex, dweight: numpy.typing.NDArray[numpy.float64]) -> None:
    ...
@typing.overload
def embedding_forward(indices: numpy.typing.NDArray[numpy.int64], weight: numpy.typing.NDArray[numpy.float32], out: numpy.typing.NDArray[numpy.float32]) -> None:
    ...
@typing.overload
def embedding_forward(indices: numpy.typing.NDArray[numpy.int64], weight: numpy.typing.NDArray[numpy.float64], out: numpy.typing.NDArray[numpy.float64]) -> None:
    ...
@typing.overload
def encoder_layer_backward(saved: EncoderLayerSaved32, x: numpy.typing.NDArray[numpy.float32], grad_out: numpy.typing.NDArray[numpy.float32], *, in_proj_weight: numpy.typing.NDArray[numpy.float32] | None = None, in_proj_bias: numpy.typing.NDArray[numpy.float32] | None = None, out_proj_weight: numpy.typing.NDArray[numpy.float32] | None = None, out_proj_bias: numpy.typing.NDArray[numpy.float32] | None = None, linear1_weight: numpy.typing.NDArray[numpy.float32] | None = None, linear1_bias: numpy.typing.NDArray[numpy.float32] | None = None, linear2_weight: numpy.typing.NDArray[numpy.float32] | None = None, linear2_bias: numpy.typing.NDArray[numpy.float32] | None = None, norm1_weight: numpy.typing.NDArray[numpy.float32] | None = None, norm1_bias: numpy.typing.NDArray[numpy.float32] | None = None, norm2_weight: numpy.typing.NDArray[numpy.float32] | None = None, norm2_bias: numpy.typing.NDArray[numpy.float32] | None = None, options: EncoderLayerOptions, heads: typing.SupportsInt | typing.SupportsIndex, kv_heads: typing.SupportsInt | typing.SupportsIndex, mask: numpy.ndarray | None = None, alibi_slopes: numpy.typing.NDArray[numpy.float32] | None = None, dx: numpy.typing.NDArray[numpy.float32] | None = None, d_in_proj_weight: numpy.typing.NDArray[numpy.float32] | None = None, d_in_proj_bias: numpy.typing.NDArray[numpy.float32] | None = None, d_out_proj_weight: numpy.typing.NDArray[numpy.float32] | None = None, d_out_proj_bias: numpy.typing.NDArray[numpy.float32] | None = None, d_linear1_weight: numpy.typing.NDArray[numpy.float32] | None = None, d_linear1_bias: numpy.typing.NDArray[numpy.float32] | None = None, d_linear2_weight: numpy.typing.NDArray[numpy.float32] | None = None, d_linear2_bias: numpy.typing.NDArray[numpy.float32] | None = None, d_norm1_weight: numpy.typing.NDArray[numpy.float32] | None = None, d_norm1_bias: numpy.typing.NDArray[numpy.float32] | None = None, d_norm2_weight: numpy.typing.NDArray[numpy.float32] | None = None, d_norm2_bias: numpy.typing.NDArray[numpy.float32] | None = None) -> None:
    """
    The gradients that have a destination (dx, d_<parameter>) of the forward that returned saved.
    """
@typing.overload
def encoder_layer_backward(saved: EncoderLayerSaved64, x: numpy.typing.NDArray[numpy.float64], grad_out: numpy.typing.NDArray[numpy.float64], *, in_proj_weight: numpy.typing.NDArray[numpy.float64] | None = None, in_proj_bias: numpy.typing.NDArray[numpy.float64] | None = None, out_proj_weight: numpy.typing.NDArray[numpy.float64] | None = None, out_proj_bias: numpy.typing.NDArray[numpy.float64] | None = None, linear1_weight: numpy.typing.NDArray[numpy.float64] | None = None, linear1_bias: numpy.typing.NDArray[numpy.float64] | None = None, linear2_weight: numpy.typing.NDArray[numpy.float64] | None = None, linear2_bias: numpy.typing.NDArray[numpy.float64] | None = None, norm1_weight: numpy.typing.NDArray[numpy.float64] | None = None, norm1_bias: numpy.typing.NDArray[numpy.float64] | None = None, norm2_weight: numpy.typing.NDArray[numpy.float64] | None = None, norm2_bias: numpy.typing.NDArray[numpy.float64] | None = None, options: EncoderLayerOptions, heads: typing.SupportsInt | typing.SupportsIndex, kv_heads: typing.SupportsInt | typing.SupportsIndex, mask: numpy.ndarray | None = None, alibi_slopes: numpy.typing.NDArray[numpy.float64] | None = None, dx: numpy.typing.NDArray[numpy.float64] | None = None, d_in_proj_weight: numpy.typing.NDArray[numpy.float64] | None = None, d_in_proj_bias: numpy.typing.NDArray[numpy.float64] | None = None, d_out_proj_weight: numpy.typing.NDArray[numpy.float64] | None = None, d_out_proj_bias: numpy.typing.NDArray[numpy.float64] | None = None, d_linear1_weight: numpy.typing.NDArray[numpy.float64] | None = None, d_linear1_bias: numpy.typing.NDArray[numpy.float64] | None = None, d_linear2_weight: numpy.typing.NDArray[numpy.float64] | None = None, d_linear2_bias: numpy.typing.NDArray[numpy.float64] | None = None, d_norm1_weight: numpy.typing.NDArray[numpy.float64] | None = None, d_norm1_bias: numpy.typing.NDArray[numpy.float64] | None = None, d_norm2_weight: numpy.typing.NDArray[numpy.float64] | None = None, d_norm2_bias: numpy.typing.NDArray[numpy.float64] | None = None) -> None:
    """
    The gradients that have a destination (dx, d_<parameter>) of the forward that returned saved.
    """
@typing.overload
def encoder_layer_forward(x: numpy.typing.NDArray[numpy.float32], *, in_proj_weight: numpy.typing.NDArray[numpy.float32] | None = None, in_proj_bias: numpy.typing.NDArray[numpy.float32] | None = None, out_proj_weight: numpy.typing.NDArray[numpy.float32] | None = None, out_proj_bias: numpy.typing.NDArray[numpy.float32] | None = None, linear1_weight: numpy.typing.NDArray[numpy.float32] | None = None, linear1_bias: numpy.typing.NDArray[numpy.float32] | None = None, linear2_weight: numpy.typing.NDArray[numpy.float32] | None = None, linear2_bias: numpy.typing.NDArray[numpy.float32] | None = None, norm1_weight: numpy.typing.NDArray[numpy.float32] | None = None, norm1_bias: numpy.typing.NDArray[numpy.float32] | None = None, norm2_weight: numpy.typing.NDArray[numpy.float32] | None = None, norm2_bias: numpy.typing.NDArray[numpy.float32] | None = None, options: EncoderLayerOptions, heads: typing.SupportsInt | typing.SupportsIndex, kv_heads: typing.SupportsInt | typing.SupportsIndex, mask: numpy.ndarray | None = None, alibi_slopes: numpy.typing.NDArray[numpy.float32] | None = None, past_keys: numpy.typing.NDArray[numpy.float32] | None = None, past_values: numpy.typing.NDArray[numpy.float32] | None = None, keys: numpy.typing.NDArray[numpy.float32] | None = None, values: numpy.typing.NDArray[numpy.float32] | None = None, weights: numpy.typing.NDArray[numpy.float32] | None = None, out: numpy.typing.NDArray[numpy.float32], training: bool = False) -> typing.Any:
    """
    The layer's output into out; with training, returns what its backward needs.
    """
@typing.overload
def encoder_layer_forward(x: numpy.typing.NDArray[numpy.float64], *, in_proj_weight: numpy.typing.NDArray[numpy.float64] | None = None, in_proj_bias: numpy.typing.NDArray[numpy.float64] | None = None, out_proj_weight: numpy.typing.NDArray[numpy.float64] | None = None, out_proj_bias: numpy.typing.NDArray[numpy.float64] | None = None, linear1_weight: numpy.typing.NDArray[numpy.float64] | None = None, linear1_bias: numpy.typing.NDArray[numpy.float64] | None = None, linear2_weight: numpy.typing.NDArray[numpy.float64] | None = None, linear2_bias: numpy.typing.NDArray[numpy.float64] | None = None, norm1_weight: numpy.typing.NDArray[numpy.float64] | None = None, norm1_bias: numpy.typing.NDArray[numpy.float64] | None = None, norm2_weight: numpy.typing.NDArray[numpy.float64] | None = None, norm2_bias: numpy.typing.NDArray[numpy.float64] | None = None, options: EncoderLayerOptions, heads: typing.SupportsInt | typing.SupportsIndex, kv_heads: typing.SupportsInt | typing.SupportsIndex, mask: numpy.ndarray | None = None, alibi_slopes: numpy.typing.NDArray[numpy.float64] | None = None, past_keys: numpy.typing.NDArray[numpy.float64] | None = None, past_values: numpy.typing.NDArray[numpy.float64] | None = None, keys: numpy.typing.NDArray[numpy.float64] | None = None, values: numpy.typing.NDArray[numpy.float64] | None = None, weights: numpy.typing.NDArray[numpy.float64] | None = None, out: numpy.typing.NDArray[numpy.float64], training: bool = False) -> typing.Any:
    """
    The layer's output into out; with training, returns what its backward needs.
    """
def force_arch(name: str) -> None:
    """
    Run kernels on `name` ('' = automatic choice).
    """
def get_num_threads() -> int:
    ...
@typing.overload
def layer_norm_backward(grad_out: numpy.typing.NDArray[numpy.float32], x: numpy.typing.NDArray[numpy.float32], weight: numpy.typing.NDArray[numpy.float32] | None, eps: typing.SupportsFloat | typing.SupportsIndex, dx: numpy.typing.NDArray[numpy.float32], dweight: numpy.typing.NDArray[numpy.float32] | None, dbias: numpy.typing.NDArray[numpy.float32] | None) -> None:
    ...
@typing.overload
def layer_norm_backward(grad_out: numpy.typing.NDArray[numpy.float64], x: numpy.typing.NDArray[numpy.float64], weight: numpy.typing.NDArray[numpy.float64] | None, eps: typing.SupportsFloat | typing.SupportsIndex, dx: numpy.typing.NDArray[numpy.float64], dweight: numpy.typing.NDArray[numpy.float64] | None, dbias: numpy.typing.NDArray[numpy.float64] | None) -> None:
    ...
@typing.overload
def layer_norm_forward(x: numpy.typing.NDArray[numpy.float32], weight: numpy.typing.NDArray[numpy.float32] | None, bias: numpy.typing.NDArray[numpy.float32] | None, eps: typing.SupportsFloat | typing.SupportsIndex, out: numpy.typing.NDArray[numpy.float32]) -> None:
    ...
@typing.overload
def layer_norm_forward(x: numpy.typing.NDArray[numpy.float64], weight: numpy.typing.NDArray[numpy.float64] | None, bias: numpy.typing.NDArray[numpy.float64] | None, eps: typing.SupportsFloat | typing.SupportsIndex, out: numpy.typing.NDArray[numpy.float64]) -> None:
    ...
@typing.overload
def linear_backward(grad_out: numpy.typing.NDArray[numpy.float32], x: numpy.typing.NDArray[numpy.float32], weight: numpy.typing.NDArray[numpy.float32], dx: numpy.typing.NDArray[numpy.float32] | None, dweight: numpy.typing.NDArray[numpy.float32] | None, dbias: numpy.typing.NDArray[numpy.float32] | None) -> None:
    ...
@typing.overload
def linear_backward(grad_out: numpy.typing.NDArray[numpy.float64], x: numpy.typing.NDArray[numpy.float64], weight: numpy.typing.NDArray[numpy.float64], dx: numpy.typing.NDArray[numpy.float64] | None, dweight: numpy.typing.NDArray[numpy.float64] | None, dbias: numpy.typing.NDArray[numpy.float64] | None) -> None:
    ...
@typing.overload
def linear_forward(x: numpy.typing.NDArray[numpy.float32], weight: numpy.typing.NDArray[numpy.float32], bias: numpy.typing.NDArray[numpy.float32] | None, y: numpy.typing.NDArray[numpy.float32]) -> None:
    ...
@typing.overload
def linear_forward(x: numpy.typing.NDArray[numpy.float64], weight: numpy.typing.NDArray[numpy.float64], bias: numpy.typing.NDArray[numpy.float64] | None, y: numpy.typing.NDArray[numpy.float64]) -> None:
    ...
def matmul(a: numpy.ndarray, b: numpy.ndarray, c: numpy.ndarray) -> None:
    ...
def peak_gflops(threads: typing.SupportsInt | typing.SupportsIndex) -> float:
    """
    Measured float32 FMA throughput of `threads` threads on the current arch, GFLOP/s.
    """
@typing.overload
def rms_norm_backward(grad_out: numpy.typing.NDArray[numpy.float32], x: numpy.typing.NDArray[numpy.float32], weight: numpy.typing.NDArray[numpy.float32] | None, eps: typing.SupportsFloat | typing.SupportsIndex, dx: numpy.typing.NDArray[numpy.float32], dweight: numpy.typing.NDArray[numpy.float32] | None) -> None:
    ...
@typing.overload
def rms_norm_backward(grad_out: numpy.typing.NDArray[numpy.float64], x: numpy.typing.NDArray[numpy.float64], weight: numpy.typing.NDArray[numpy.float64] | None, eps: typing.SupportsFloat | typing.SupportsIndex, dx: numpy.typing.NDArray[numpy.float64], dweight: numpy.typing.NDArray[numpy.float64] | None) -> None:
    ...
@typing.overload
def rms_norm_forward(x: numpy.typing.NDArray[numpy.float32], weight: numpy.typing.NDArray[numpy.float32] | None, eps: typing.SupportsFloat | typing.SupportsIndex, out: numpy.typing.NDArray[numpy.float32]) -> None:
    ...
@typing.overload
def rms_norm_forward(x: numpy.typing.NDArray[numpy.float64], weight: numpy.typing.NDArray[numpy.float64] | None, eps: typing.SupportsFloat | typing.SupportsIndex, out: numpy.typing.NDArray[numpy.float64]) -> None:
    ...
@typing.overload
def rope_forward(x: numpy.typing.NDArray[numpy.float32], positions: numpy.typing.NDArray[numpy.float64], rotary_dim: typing.SupportsInt | typing.SupportsIndex, interleaved: bool, base: typing.SupportsFloat | typing.SupportsIndex, inverse: bool, out: numpy.typing.NDArray[numpy.float32]) -> None:
    ...
@typing.overload
def rope_forward(x: numpy.typing.NDArray[numpy.float64], positions: numpy.typing.NDArray[numpy.float64], rotary_dim: typing.SupportsInt | typing.SupportsIndex, interleaved: bool, base: typing.SupportsFloat | typing.SupportsIndex, inverse: bool, out: numpy.typing.NDArray[numpy.float64]) -> None:
    ...
def set_num_threads(n: typing.SupportsInt | typing.SupportsIndex) -> None:
    ...
def sgd_step(params: list, grads: list, momentum_buffers: list, fresh_buffers: collections.abc.Sequence[bool], lr: typing.SupportsFloat | typing.SupportsIndex, momentum: typing.SupportsFloat | typing.SupportsIndex, dampening: typing.SupportsFloat | typing.SupportsIndex, weight_decay: typing.SupportsFloat | typing.SupportsIndex, nesterov: bool, maximize: bool) -> None:
    """
    One SGD step of every parameter of a group, in place (torch.optim.SGD's update).
    """
@typing.overload
def softmax_backward(grad_out: numpy.typing.NDArray[numpy.float32], x: numpy.typing.NDArray[numpy.float32], log: bool, dx: numpy.typing.NDArray[numpy.float32]) -> None:
    ...
@typing.overload
def softmax_backward(grad_out: numpy.typing.NDArray[numpy.float64], x: numpy.typing.NDArray[numpy.float64], log: bool, dx: numpy.typing.NDArray[numpy.float64]) -> None:
    ...
@typing.overload
def softmax_forward(x: numpy.typing.NDArray[numpy.float32], log: bool, out: numpy.typing.NDArray[numpy.float32]) -> None:
    ...
@typing.overload
def softmax_forward(x: numpy.typing.NDArray[numpy.float64], log: bool, out: numpy.typing.NDArray[numpy.float64]) -> None:
    ...
def workspace_cached_bytes() -> int:
    """
    Bytes of freed scratch and arrays the core keeps for reuse.
    """
def workspace_trim() -> None:
    """
    Frees everything the workspace cache holds.
    """
_FLUSH_DENORMALS: int = 32832
attention_blocks: tuple = (96, 128)
