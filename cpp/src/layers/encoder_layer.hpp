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

// torch's parameters, C-contiguous; every bias, and a norm's weight and bias, may be null.
template <class T>
struct EncoderLayerWeights {
    const T* in_proj_weight = nullptr;  // (d_model + 2 kv_heads dim, d_model): q, k, v rows
    const T* in_proj_bias = nullptr;
    const T* out_proj_weight = nullptr;  // (d_model, d_model)
    const T* out_proj_bias = nullptr;
    const T* linear1_weight = nullptr;  // (dim_feedforward, d_model)
    const T* linear1_bias = nullptr;
    const T* linear2_weight = nullptr;  // (d_model, dim_feedforward)
    const T* linear2_bias = nullptr;
    const T* norm1_weight = nullptr;  // (d_model)
    const T* norm1_bias = nullptr;
    const T* norm2_weight = nullptr;
    const T* norm2_bias = nullptr;
};

struct EncoderLayerOptions {
    bool norm_first = false;  // pre-norm: x + attn(norm1(x)); post-norm: norm1(x + attn(x))
    Activation activation = Activation::relu;
    double norm1_eps = 1e-5, norm2_eps = 1e-5;
    bool causal = false;  // aligned bottom-right: query i is token past + i
    bool rotary = false;  // rotary positions of q and k (past + i), with `rope`'s options
    RopeOptions rope;
};

// What the attention reads besides q, k and v, and where the keys and values go.
template <class T>
struct EncoderLayerAttention {
    Broadcast4<std::uint8_t> mask;   // over (batch, heads, length, past + length)
    const T* alibi_slopes = nullptr;  // (heads) or null
    const T* past_keys = nullptr;     // (batch, kv_heads, past, dim), as attention read them
    const T* past_values = nullptr;
    // (batch, kv_heads, past + length, dim) each, or null: every key and value (the cache's
    // next state). Needed when past > 0.
    T* keys = nullptr;
    T* values = nullptr;
    T* weights = nullptr;  // (batch, heads, length, past + length), or null
};

// out (batch, length, d_model) = the layer of x (out must not overlap x).
template <class T>
void encoder_layer_forward(const EncoderLayerShape& shape, const EncoderLayerWeights<T>& w,
                           const EncoderLayerOptions& opt, const EncoderLayerAttention<T>& attn,
                           const T* x, T* out);

}  // namespace attnlab::layers
