// A transformer decoder layer as one call each way (torch.nn.TransformerDecoderLayer, post-norm
// or pre-norm): self-attention over the target, cross attention over the encoder's memory and
// a feed-forward block, each with a residual connection and a LayerNorm, over one workspace.
// The caller has checked every shape.
#pragma once

#include "attnlab/api.hpp"
#include "layers/encoder_layer.hpp"

namespace attnlab::layers {

// x (batch, length, d_model), memory (batch, memory_length, d_model); the heads' dim is
// d_model / heads; keys and values of both attentions have kv_heads heads.
struct DecoderLayerShape {
    index_t batch = 0, length = 0, memory_length = 0, d_model = 0, heads = 0, kv_heads = 0;
    index_t dim_feedforward = 0;
};

// torch's parameters (P = const T*), or their gradients (P = T*), C-contiguous; every bias,
// and a norm's weight and bias, may be null. in_proj and out_proj are self_attn's, cross_*
// multihead_attn's; norm1, norm2 and norm3 follow the self-attention, the cross attention and
// the feed-forward block.
template <class P>
struct DecoderLayerParameters {
    P in_proj_weight = nullptr;  // (d_model + 2 kv_heads dim, d_model): q, k, v rows
    P in_proj_bias = nullptr;
    P out_proj_weight = nullptr;  // (d_model, d_model)
    P out_proj_bias = nullptr;
    P cross_in_proj_weight = nullptr;  // as in_proj: q rows for x, k and v rows for memory
    P cross_in_proj_bias = nullptr;
    P cross_out_proj_weight = nullptr;
    P cross_out_proj_bias = nullptr;
    P linear1_weight = nullptr;  // (dim_feedforward, d_model)
    P linear1_bias = nullptr;
    P linear2_weight = nullptr;  // (d_model, dim_feedforward)
    P linear2_bias = nullptr;
    P norm1_weight = nullptr;  // (d_model)
    P norm1_bias = nullptr;
    P norm2_weight = nullptr;
    P norm2_bias = nullptr;
    P norm3_weight = nullptr;
    P norm3_bias = nullptr;
};

template <class T>
using DecoderLayerWeights = DecoderLayerParameters<const T*>;

struct DecoderLayerOptions {
    bool norm_first = false;
    Activation activation = Activation::relu;
    double norm1_eps = 1e-5, norm2_eps = 1e-5, norm3_eps = 1e-5;
    bool causal = false;         // the self-attention's (tgt_is_causal)
    bool memory_causal = false;  // the cross attention's (memory_is_causal), top-left
    bool rotary = false;         // rotary positions of the self-attention's q and k
    // The cross attention's k and v as two products, as the composition computes them from
    // weights apart (grouped-query heads), rather than one over their packed rows.
    bool cross_kv_apart = false;
    RopeOptions rope;
    // torch's: of the self- and the cross attention's weights, of each attention block's
    // output before its residual sum (dropout1, dropout2), of the activation's output
    // (dropout), of the feed-forward block's output (dropout3).
    DropoutOption attention_dropout, cross_attention_dropout, dropout1, dropout2, dropout, dropout3;
};

// What the forward keeps for its backward: each attention's operands and results, each
// block's output, post-norm's norm inputs and the feed-forward's hidden layer. The backward
// recomputes the pre-norm norms' outputs and the merged heads.
template <class T>
struct DecoderLayerSaved {
    AttentionActivations<T> self_attention;   // its keys: the target's tokens
    AttentionActivations<T> cross_attention;  // its keys: the memory's tokens
    T* x1 = nullptr;    // (batch, length, d_model): the self-attention block's output
    T* x2 = nullptr;    // the cross attention block's
    T* sum1 = nullptr;  // post-norm: each norm's input (null pre-norm)
    T* sum2 = nullptr;
    T* sum3 = nullptr;
    T* hidden = nullptr;     // (batch, length, dim_feedforward): linear1's, before activation
    T* activated = nullptr;  // the activation's output after dropout: linear2's input
};

template <class T>
struct DecoderLayerGrads {
    T* x = nullptr;
    T* memory = nullptr;
    DecoderLayerParameters<T*> w;
};

// out (batch, length, d_model) = the layer of x over memory (out must not overlap either);
// saved gets what the backward needs. The attentions' mask, weights (and the self-attention's
// ALiBi slopes) are self_attention's and cross_attention's; their caches are unused.
template <class T>
void decoder_layer_forward(const DecoderLayerShape& shape, const DecoderLayerWeights<T>& w,
                           const DecoderLayerOptions& opt,
                           const EncoderLayerAttention<T>& self_attention,
                           const EncoderLayerAttention<T>& cross_attention, const T* x,
                           const T* memory, T* out, const DecoderLayerSaved<T>& saved);

// The gradients of decoder_layer_forward's output from grad_out, given what its forward on x
// and memory saved; nothing without a target token (the caller zeroes the gradients).
template <class T>
void decoder_layer_backward(const DecoderLayerShape& shape, const DecoderLayerWeights<T>& w,
                            const DecoderLayerOptions& opt,
                            const EncoderLayerAttention<T>& self_attention,
                            const EncoderLayerAttention<T>& cross_attention, const T* x,
                            const T* memory, const DecoderLayerSaved<T>& saved, const T* grad_out,
                            const DecoderLayerGrads<T>& grads);

}  // namespace attnlab::layers
