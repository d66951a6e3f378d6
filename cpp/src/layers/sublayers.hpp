// The sublayers the fused layers are made of (encoder_layer.cpp, decoder_layer.cpp): the heads
// of a packed projection, an attention's output projection, a residual connection with its
// LayerNorm and a feed-forward block, forward and backward, each the core's kernels in the
// order of the Python composition. The callers own the workspace; each function says which of
// its pointers it writes.
#pragma once

#include <vector>

#include "attnlab/api.hpp"
#include "layers/encoder_layer.hpp"
#include "workspace.hpp"

namespace attnlab::layers {

// The sizes of one attention sublayer: batch b of l queries (n = b l rows of c features), keys
// and values of kv_heads heads of d, lk = past + l of them (a cross attention's: the memory's
// length, past 0); e = c + 2 kv_heads d columns of a packed projection; f the feed-forward's.
struct Sizes {
    index_t b, l, c, f, heads, kv_heads, d, n, e, lk, past;
    explicit Sizes(const EncoderLayerShape& s);
};

// out = a + b over n elements, in tiles on the pool.
template <class T>
void add(const T* a, const T* b, index_t n, T* out);

// y = dropout(x) over n elements (y may be x); the backward is the same call on the gradient.
template <class T>
void drop(const DropoutOption& dropout, const T* x, index_t n, T* y);

template <class T>
void merge_heads(const Sizes& z, const T* heads, T* rows);  // (B, H, L, D) -> (B, L, C)

// heads (b, h, l, d) into the columns [0, h d) of rows (b, l, stride), a row of d at a time.
template <class T>
void heads_to_rows(const T* heads, index_t b, index_t h, index_t l, index_t d, T* rows,
                   index_t stride);

// The columns [0, h d) of rows (b, l, stride) as heads (b, h, l, d).
template <class T>
void rows_to_heads(const T* rows, index_t stride, index_t b, index_t h, index_t l, index_t d,
                   T* heads);

// The positions of this call's tokens, past, ..., past + l - 1.
std::vector<double> positions(const Sizes& z);

AttentionShape attention_shape(const Sizes& z);

// Causal aligned bottom-right when the sublayer has a past.
AttentionOptions attention_options(const Sizes& z, bool causal, const DropoutOption& dropout);

template <class T>
AttentionInputs<T> attention_inputs(const EncoderLayerAttention<T>& at, const T* q, const T* k,
                                    const T* v);

// The heads of a packed projection qkv (B, L, E): q (B, H, L, D); keys and values (B, Hkv,
// past + L, D), after the past's of at; with rotary positions, q and the new keys rotated
// (scratch: (B, Hkv, L, D), used when past > 0).
template <class T>
void packed_heads(const Sizes& z, bool rotary, const RopeOptions& rope,
                  const EncoderLayerAttention<T>& at, const T* qkv, T* q, T* keys, T* values,
                  T* scratch);

// The gradients of q and of the new keys before their rotation (past 0), in place.
template <class T>
void rotate_back(const Sizes& z, const RopeOptions& rope, T* dq, T* dk);

// a (n, c) = dropout(out_proj(the merged heads of attention (B, H, L, D))); merged: (n, c).
template <class T>
void attention_output_forward(const Sizes& z, const T* attention, const T* weight, const T* bias,
                              const DropoutOption& dropout, T* merged, T* a);

// Its backward from da: the out projection's parameters' gradients (where not null), and the
// gradient of attention (B, H, L, D) into merged (which first holds the merged heads again);
// dropped and dmerged (n, c) are scratch.
template <class T>
void attention_output_backward(const Sizes& z, const T* da, const DropoutOption& dropout,
                               const T* attention, const T* weight, T* dweight, T* dbias,
                               T* dropped, T* merged, T* dmerged);

// A LayerNorm's parameters (each may be null) and eps.
template <class T>
struct Norm {
    const T* weight = nullptr;
    const T* bias = nullptr;
    double eps = 1e-5;
};

// x1 = x + a (pre-norm) or norm(sum), sum = x + a (post-norm); x1 may be a.
template <class T>
void residual_forward(bool norm_first, index_t n, index_t c, const T* x, const T* a,
                      const Norm<T>& norm, T* sum, T* x1);

// The gradient of the residual sum (which x and a both get) from x1's: dx1 itself (pre-norm)
// or the norm's backward into dsum (post-norm), the norm's parameters' gradients with it.
template <class T>
const T* residual_backward(bool norm_first, index_t n, index_t c, const T* dx1, const T* sum,
                           const Norm<T>& norm, T* dsum, T* dnorm_weight, T* dnorm_bias);

// A self-attention sublayer: the packed projection, the output projection, the LayerNorm
// (before it pre-norm, after its residual sum post-norm), causal, rotary positions, the
// attention's dropout and the block output's (before the residual sum).
template <class T>
struct SelfAttention {
    const T* in_proj_weight = nullptr;  // (e, c)
    const T* in_proj_bias = nullptr;
    const T* out_proj_weight = nullptr;  // (c, c)
    const T* out_proj_bias = nullptr;
    Norm<T> norm;
    bool causal = false, rotary = false;
    RopeOptions rope;
    DropoutOption attention_dropout, dropout;
};

template <class T>
struct SelfAttentionGrads {
    T* in_proj_weight = nullptr;
    T* in_proj_bias = nullptr;
    T* out_proj_weight = nullptr;
    T* out_proj_bias = nullptr;
    T* norm_weight = nullptr;
    T* norm_bias = nullptr;
};

// A layer's self-attention sublayer (its weights w, or gradients g, name it in_proj, out_proj
// and norm1, its options causal, rotary, rope, attention_dropout and dropout1).
template <class T, class Weights, class Options>
SelfAttention<T> self_attention_of(const Weights& w, const Options& opt) {
    return {w.in_proj_weight,
            w.in_proj_bias,
            w.out_proj_weight,
            w.out_proj_bias,
            {w.norm1_weight, w.norm1_bias, opt.norm1_eps},
            opt.causal,
            opt.rotary,
            opt.rope,
            opt.attention_dropout,
            opt.dropout1};
}

template <class T, class Grads>
SelfAttentionGrads<T> self_attention_grads_of(const Grads& g) {
    return {g.in_proj_weight, g.in_proj_bias, g.out_proj_weight,
            g.out_proj_bias,  g.norm1_weight, g.norm1_bias};
}

// a (n, c) = the self-attention block's output before its residual sum, of x (of norm(x),
// pre-norm); the attention's operands and results go to kept (its keys and values after
// at's past). Scratch: qkv (n, e) and merged (n, c); a meanwhile holds norm(x) and new keys
// to rotate after a past.
template <class T>
void self_attention_forward(const Sizes& z, bool norm_first, const SelfAttention<T>& sa,
                            const EncoderLayerAttention<T>& at, const T* x, T* qkv,
                            const AttentionActivations<T>& kept, T* merged, T* a);

// Its backward (past 0) from da, the gradient of a (and of x through the residual, which dx
// adds): dx where not null and the parameters' gradients where not null. Scratch: dqkv
// (n, e), dq (n, c), dk and dv (B, Hkv, L, D), s1..s3 (n, c), none of them da.
template <class T>
void self_attention_backward(const Sizes& z, bool norm_first, const SelfAttention<T>& sa,
                             const EncoderLayerAttention<T>& at, const T* x,
                             const AttentionActivations<T>& kept, const T* da,
                             const SelfAttentionGrads<T>& g, T* dqkv, T* dq, T* dk, T* dv, T* s1,
                             T* s2, T* s3, T* dx);

// A feed-forward sublayer: linear1, the activation, linear2 and its LayerNorm; dropout of the
// activation's output and of the sublayer's (before the residual sum).
template <class T>
struct FeedForward {
    index_t f = 0;  // linear1's outputs
    const T* linear1_weight = nullptr;
    const T* linear1_bias = nullptr;
    const T* linear2_weight = nullptr;
    const T* linear2_bias = nullptr;
    Norm<T> norm;
    Activation activation = Activation::relu;
    DropoutOption dropout, dropout_out;
};

// A layer's feed-forward sublayer of f outputs (its weights w, or gradients g, name it
// linear1 and linear2) with this norm, activation and dropouts.
template <class T, class Weights>
FeedForward<T> feed_forward_of(index_t f, const Weights& w, const Norm<T>& norm,
                               Activation activation, const DropoutOption& dropout,
                               const DropoutOption& dropout_out) {
    return {f,    w.linear1_weight, w.linear1_bias, w.linear2_weight, w.linear2_bias,
            norm, activation,       dropout,        dropout_out};
}

template <class T>
struct FeedForwardGrads {
    T* linear1_weight = nullptr;
    T* linear1_bias = nullptr;
    T* linear2_weight = nullptr;
    T* linear2_bias = nullptr;
    T* norm_weight = nullptr;
    T* norm_bias = nullptr;
};

template <class T, class Grads>
FeedForwardGrads<T> feed_forward_grads_of(const Grads& g, T* norm_weight, T* norm_bias) {
    return {g.linear1_weight, g.linear1_bias, g.linear2_weight,
            g.linear2_bias,   norm_weight,    norm_bias};
}

// out (n, c) = x + ff(norm(x)) (pre-norm) or norm(sum), sum = x + ff(x) (post-norm); hidden
// (n, f) linear1's output, activated the activation's after dropout (may be hidden); scratch
// (n, c).
template <class T>
void feed_forward_forward(bool norm_first, index_t n, index_t c, const FeedForward<T>& ff,
                          const T* x, T* scratch, T* hidden, T* activated, T* sum, T* out);

// The gradient of the sublayer's input x into dx, from grad_out, given what its forward on x
// kept; dh (n, f) and s1..s3 (n, c) are scratch.
template <class T>
void feed_forward_backward(bool norm_first, index_t n, index_t c, const FeedForward<T>& ff,
                           const T* x, const T* sum, const T* hidden, const T* activated,
                           const T* grad_out, const FeedForwardGrads<T>& g, T* dh, T* s1, T* s2,
                           T* s3, T* dx);

// A layer backward's scratch, one workspace carved the same way by both layers: dqkv (n, e) the
// gradient of the self-attention's packed projection; dh (n, f) linear1's output's; b2..b6
// (n, c) gradients and recomputed inputs (a product's gradient never goes where its input is:
// linear_backward reads the input after writing dx); dq (n, c), dk and dv (kv_grads each) an
// attention's; then `extra` elements at rest for what the layer needs besides.
template <class T>
struct BackwardScratch {
    workspace::Buffer<T> ws;
    T *dqkv, *dh, *b2, *b3, *b4, *b5, *b6, *dq, *dk, *dv, *rest;

    BackwardScratch(const Sizes& z, index_t kv_grads, index_t extra)
        : ws(z.n * (z.e + z.f + 6 * z.c) + 2 * kv_grads + extra, false) {
        dqkv = ws.get();
        dh = dqkv + z.n * z.e;
        b2 = dh + z.n * z.f;
        b3 = b2 + z.n * z.c;
        b4 = b3 + z.n * z.c;
        b5 = b4 + z.n * z.c;
        b6 = b5 + z.n * z.c;
        dq = b6 + z.n * z.c;
        dk = dq + z.n * z.c;
        dv = dk + kv_grads;
        rest = dv + kv_grads;
    }
};

}  // namespace attnlab::layers
