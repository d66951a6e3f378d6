// A transformer encoder layer's inference forward as one call (torch.nn.TransformerEncoderLayer,
// post-norm or pre-norm), and with it a pre-norm decoder-only block over a key/value cache
// (GPT's): self-attention, then a feed-forward block, each with a residual connection and a
// LayerNorm, over one workspace. The caller has checked every shape.
#pragma once

#include "attnlab/api.hpp"

namespace attnlab::layers {

// x (batch, length, d_model); the heads' dim is d_model / heads; keys and values have kv_heads
// heads. past: tokens before x whose keys and values the caller holds (a cache).
struct EncoderLayerShape {
    index_t batch = 0, length = 0, d_model = 0, heads = 0, kv_heads = 0;
    index_t dim_feedforward = 0;  // 0: no feed-forward block (an attention-only layer)
    index_t past = 0;
};

// torch's parameters (P = const T*), or their gradients (P = T*), C-contiguous; every bias,
// and a norm's weight and bias, may be null.
template <class P>
struct EncoderLayerParameters {
    P in_proj_weight = nullptr;  // (d_model + 2 kv_heads dim, d_model): q, k, v rows
    P in_proj_bias = nullptr;
    P out_proj_weight = nullptr;  // (d_model, d_model)
    P out_proj_bias = nullptr;
    P linear1_weight = nullptr;  // (dim_feedforward, d_model)
    P linear1_bias = nullptr;
    P linear2_weight = nullptr;  // (d_model, dim_feedforward)
    P linear2_bias = nullptr;
    P norm1_weight = nullptr;  // (d_model)
    P norm1_bias = nullptr;
    P norm2_weight = nullptr;
    P norm2_bias = nullptr;
};

template <class T>
using EncoderLayerWeights = EncoderLayerParameters<const T*>;

// A dropout of the layer: p = 0 for none; the mask is a function of (seed, flat index), so
// the backward regenerates it.
struct DropoutOption {
    double p = 0.0;
    std::uint64_t seed = 0;
};

struct EncoderLayerOptions {
    bool norm_first = false;  // pre-norm: x + attn(norm1(x)); post-norm: norm1(x + attn(x))
    Activation activation = Activation::relu;
    double norm1_eps = 1e-5, norm2_eps = 1e-5;
    bool causal = false;  // aligned bottom-right: query i is token past + i
    bool rotary = false;  // rotary positions of q and k (past + i), with `rope`'s options
    RopeOptions rope;
    // torch's: of the attention weights, of the attention block's output before its residual
    // sum (dropout1), of the activation's output (dropout), of the feed-forward block's output
    // (dropout2).
    DropoutOption attention_dropout, dropout1, dropout, dropout2;
};

// What the attention reads besides q, k and v, and where the keys and values go.
template <class T>
struct EncoderLayerAttention {
    Broadcast4<std::uint8_t> mask;    // over (batch, heads, length, past + length)
    const T* alibi_slopes = nullptr;  // (heads) or null
    const T* past_keys = nullptr;     // (batch, kv_heads, past, dim), as attention read them
    const T* past_values = nullptr;
    // (batch, kv_heads, past + length, dim) each, or null: every key and value (the cache's
    // next state). Needed when past > 0.
    T* keys = nullptr;
    T* values = nullptr;
    T* weights = nullptr;  // (batch, heads, length, past + length), or null
};

// An attention's operands and results, as its kernels read and wrote them.
template <class T>
struct AttentionActivations {
    T* q = nullptr;          // (batch, heads, queries, dim), rotated
    T* k = nullptr;          // (batch, kv_heads, keys, dim), rotated
    T* v = nullptr;          // (batch, kv_heads, keys, dim)
    T* attention = nullptr;  // (batch, heads, queries, dim): the attention's output
    SoftmaxStats<T> stats;   // (batch, heads, queries) each
};

// What a training forward keeps for its backward (no past then): the attention's operands
// and results, and the activations that cost a product, a reduction or a transcendental to
// recompute. The backward recomputes the cheap rest (norm1(x) and norm2(x1) of pre-norm, the
// merged heads).
template <class T>
struct EncoderLayerSaved {
    AttentionActivations<T> self_attention;
    T* x1 = nullptr;         // (batch, length, d_model): the attention block's output
    T* sum1 = nullptr;       // post-norm: norm1's input x + a (batch, length, d_model)
    T* sum2 = nullptr;       // post-norm: norm2's input x1 + ff(x1)
    T* hidden = nullptr;     // (batch, length, dim_feedforward): linear1's, before activation
    T* activated = nullptr;  // the activation's output after dropout: linear2's input
};

// Where the gradients of the layer's input and parameters go (each null when not wanted).
template <class T>
struct EncoderLayerGrads {
    T* x = nullptr;
    EncoderLayerParameters<T*> w;
};

// out (batch, length, d_model) = the layer of x (out must not overlap x); with saved (past 0),
// what the backward needs too.
template <class T>
void encoder_layer_forward(const EncoderLayerShape& shape, const EncoderLayerWeights<T>& w,
                           const EncoderLayerOptions& opt, const EncoderLayerAttention<T>& attn,
                           const T* x, T* out, const EncoderLayerSaved<T>* saved = nullptr);

// The gradients of encoder_layer_forward's output (past 0) from grad_out, given the saved
// activations of its forward on x; nothing without a token (the caller zeroes the gradients).
template <class T>
void encoder_layer_backward(const EncoderLayerShape& shape, const EncoderLayerWeights<T>& w,
                            const EncoderLayerOptions& opt, const EncoderLayerAttention<T>& attn,
                            const T* x, const EncoderLayerSaved<T>& saved, const T* grad_out,
                            const EncoderLayerGrads<T>& grads);

}  // namespace attnlab::layers
