// The decoder layer forward and backward: the encoder layer's sublayers (layers/sublayers.cpp),
// a cross attention over the memory between the self-attention and the feed-forward block, in
// the order and layouts of the Python composition in nn/transformer_decoder.py (the cross
// attention's q projection, then its k and v in one product), over one workspace a call.
#include "layers/decoder_layer.hpp"

#include <algorithm>
#include <utility>

#include "layers/sublayers.hpp"
#include "workspace.hpp"

namespace attnlab::layers {
namespace {

// The self-attention's sizes, and the cross attention's (its keys the memory's tokens).
std::pair<Sizes, Sizes> sizes(const DecoderLayerShape& s) {
    EncoderLayerShape self;
    self.batch = s.batch;
    self.length = s.length;
    self.d_model = s.d_model;
    self.heads = s.heads;
    self.kv_heads = s.kv_heads;
    self.dim_feedforward = s.dim_feedforward;
    Sizes z(self), cross(self);
    cross.lk = s.memory_length;
    return {z, cross};
}

template <class T>
FeedForward<T> feed_forward(const Sizes& z, const DecoderLayerWeights<T>& w,
                            const DecoderLayerOptions& opt) {
    return feed_forward_of<T>(z.f, w, {w.norm3_weight, w.norm3_bias, opt.norm3_eps}, opt.activation,
                              opt.dropout, opt.dropout3);
}

// p + offset, or null for null: a block of rows of a packed parameter (or its gradient).
template <class T>
T* rows_from(T* p, index_t offset) {
    return p ? p + offset : nullptr;
}

}  // namespace

template <class T>
void decoder_layer_forward(const DecoderLayerShape& s, const DecoderLayerWeights<T>& w,
                           const DecoderLayerOptions& opt,
                           const EncoderLayerAttention<T>& self_attention,
                           const EncoderLayerAttention<T>& cross_attention, const T* x,
                           const T* memory, T* out, const DecoderLayerSaved<T>& sv) {
    const auto [z, zc] = sizes(s);
    const index_t n = z.n, c = z.c, e = z.e, nm = z.b * zc.lk, kv = z.kv_heads * z.d;
    if (n == 0 || c == 0) return;
    // The workspace: qkv (n, e) the self-attention's projection, then the cross attention's q
    // (n, c); memory's k and v (nm, 2 kv); merged (n, c) each attention's merged heads; a
    // (n, c) each norm's output, each block's output before its residual sum.
    workspace::Buffer<T> ws(n * e + nm * 2 * kv + 2 * n * c, false);
    T* qkv = ws.get();
    T* memory_kv = qkv + n * e;
    T* merged = memory_kv + nm * 2 * kv;
    T* a = merged + n * c;

    // x1 = x + sa(norm1(x)) (pre-norm) or norm1(x + sa(x)) (post-norm).
    const SelfAttention<T> sa = self_attention_of<T>(w, opt);
    self_attention_forward(z, opt.norm_first, sa, self_attention, x, qkv, sv.self_attention, merged,
                           a);
    residual_forward(opt.norm_first, n, c, x, a, sa.norm, sv.sum1, sv.x1);

    // x2 = x1 + ca(norm2(x1), memory) (pre-norm) or norm2(x1 + ca(x1, memory)) (post-norm).
    const AttentionActivations<T>& kept = sv.cross_attention;
    const Norm<T> norm2{w.norm2_weight, w.norm2_bias, opt.norm2_eps};
    const T* h2 = sv.x1;
    if (opt.norm_first) {
        layer_norm_forward(sv.x1, n, c, norm2.weight, norm2.bias, norm2.eps, a);
        h2 = a;
    }
    linear_forward(h2, n, c, w.cross_in_proj_weight, c, w.cross_in_proj_bias, qkv);  // (B, L, C)
    rows_to_heads(qkv, c, z.b, z.heads, z.l, z.d, kept.q);
    // The memory's k and v: (B, S, 2 Hkv D) of one product, or k's then v's (B, S, Hkv D).
    const T* wkv = w.cross_in_proj_weight + c * c;
    const T* bkv = rows_from(w.cross_in_proj_bias, c);
    const bool apart = opt.cross_kv_apart;
    if (apart) {
        linear_forward(memory, nm, c, wkv, kv, bkv, memory_kv);
        linear_forward(memory, nm, c, wkv + kv * c, kv, rows_from(bkv, kv), memory_kv + nm * kv);
    } else {
        linear_forward(memory, nm, c, wkv, 2 * kv, bkv, memory_kv);
    }
    const index_t stride = apart ? kv : 2 * kv;
    rows_to_heads(memory_kv, stride, z.b, z.kv_heads, zc.lk, z.d, kept.k);
    rows_to_heads(memory_kv + (apart ? nm * kv : kv), stride, z.b, z.kv_heads, zc.lk, z.d, kept.v);
    attention_forward(attention_shape(zc),
                      attention_inputs(cross_attention, kept.q, kept.k, kept.v),
                      attention_options(zc, opt.memory_causal, opt.cross_attention_dropout),
                      kept.attention, cross_attention.weights, kept.stats);
    attention_output_forward(zc, kept.attention, w.cross_out_proj_weight, w.cross_out_proj_bias,
                             opt.dropout2, merged, a);
    residual_forward(opt.norm_first, n, c, sv.x1, a, norm2, sv.sum2, sv.x2);

    feed_forward_forward(opt.norm_first, n, c, feed_forward(z, w, opt), sv.x2, a, sv.hidden,
                         sv.activated, sv.sum3, out);
}

template <class T>
void decoder_layer_backward(const DecoderLayerShape& s, const DecoderLayerWeights<T>& w,
                            const DecoderLayerOptions& opt,
                            const EncoderLayerAttention<T>& self_attention,
                            const EncoderLayerAttention<T>& cross_attention, const T* x,
                            const T* memory, const DecoderLayerSaved<T>& sv, const T* grad_out,
                            const DecoderLayerGrads<T>& g) {
    const auto [z, zc] = sizes(s);
    const index_t n = z.n, c = z.c, d = z.d, l = z.l;
    const index_t nm = z.b * zc.lk, kv = z.kv_heads * d;
    if (n == 0 || c == 0) return;  // the caller zeroes the gradients
    // dq, dk, dv serve either attention; past them dkv (nm, 2 kv) the memory's k and v
    // projection's (and the memory's through v, kept apart).
    const index_t memory_v = opt.cross_kv_apart ? nm * c : 0;  // the memory's through v
    const BackwardScratch<T> ws(z, z.b * kv * std::max(l, zc.lk), nm * 2 * kv + memory_v);
    T *dqkv = ws.dqkv, *dh = ws.dh, *b2 = ws.b2, *b3 = ws.b3, *b4 = ws.b4, *b5 = ws.b5, *b6 = ws.b6;
    T *dq = ws.dq, *dk = ws.dk, *dv = ws.dv, *dkv = ws.rest;

    // dx2 (b2): the gradient of the cross attention block's output.
    const FeedForwardGrads<T> ffg = feed_forward_grads_of(g.w, g.w.norm3_weight, g.w.norm3_bias);
    feed_forward_backward(opt.norm_first, n, c, feed_forward(z, w, opt), sv.x2, sv.sum3, sv.hidden,
                          sv.activated, grad_out, ffg, dh, b3, b4, b6, b2);

    // The cross attention block: da2 (b2 pre-norm, b3 post-norm) the gradient of its output
    // before the residual sum, and of x1 through the residual; d attention into b4.
    const AttentionActivations<T>& kept = sv.cross_attention;
    const Norm<T> norm2{w.norm2_weight, w.norm2_bias, opt.norm2_eps};
    const T* da2 = residual_backward(opt.norm_first, n, c, b2, sv.sum2, norm2, b3, g.w.norm2_weight,
                                     g.w.norm2_bias);
    attention_output_backward(zc, da2, opt.dropout2, kept.attention, w.cross_out_proj_weight,
                              g.w.cross_out_proj_weight, g.w.cross_out_proj_bias, b6, b4, b5);
    attention_backward<T>(attention_shape(zc),
                          attention_inputs<T>(cross_attention, kept.q, kept.k, kept.v),
                          attention_options(zc, opt.memory_causal, opt.cross_attention_dropout), b4,
                          dq, dk, dv, nullptr, kept.attention,
                          SoftmaxStats<const T>{kept.stats.row_max_base2, kept.stats.row_inv});
    // The memory's k and v projection, then x1's q projection (its input norm2(x1) again,
    // pre-norm; its gradient into b6).
    const T* wkv = w.cross_in_proj_weight + c * c;
    T* dwkv = rows_from(g.w.cross_in_proj_weight, c * c);
    T* dbkv = rows_from(g.w.cross_in_proj_bias, c);
    const bool apart = opt.cross_kv_apart;
    const index_t stride = apart ? kv : 2 * kv;
    T* dv_rows = dkv + (apart ? nm * kv : kv);
    heads_to_rows(dk, z.b, z.kv_heads, zc.lk, d, dkv, stride);
    heads_to_rows(dv, z.b, z.kv_heads, zc.lk, d, dv_rows, stride);
    if (apart) {  // the memory's gradient: k's plus v's
        T* dmemory_v = g.memory ? dv_rows + nm * kv : nullptr;
        linear_backward(dkv, memory, wkv, nm, c, kv, g.memory, dwkv, dbkv);
        linear_backward(dv_rows, memory, wkv + kv * c, nm, c, kv, dmemory_v,
                        rows_from(dwkv, kv * c), rows_from(dbkv, kv));
        if (g.memory) add(g.memory, dmemory_v, nm * c, g.memory);
    } else {
        linear_backward(dkv, memory, wkv, nm, c, 2 * kv, g.memory, dwkv, dbkv);
    }
    heads_to_rows(dq, z.b, z.heads, l, d, b5, c);
    const T* h2 = sv.x1;
    if (opt.norm_first) {
        layer_norm_forward(sv.x1, n, c, norm2.weight, norm2.bias, norm2.eps, b4);
        h2 = b4;
    }
    linear_backward(b5, h2, w.cross_in_proj_weight, n, c, c, b6, g.w.cross_in_proj_weight,
                    g.w.cross_in_proj_bias);
    // dx1 (b5): through the residual (da2) and through the q projection (norm2's gradient of
    // b6, pre-norm; b6 itself, post-norm).
    if (opt.norm_first) {
        layer_norm_backward(b6, sv.x1, n, c, norm2.weight, norm2.eps, b5, g.w.norm2_weight,
                            g.w.norm2_bias);
        add(b5, da2, n * c, b5);
    } else {
        add(da2, b6, n * c, b5);
    }

    // The self-attention block: da1 (b5 pre-norm, b3 post-norm).
    const SelfAttention<T> sa = self_attention_of<T>(w, opt);
    const T* da1 = residual_backward(opt.norm_first, n, c, b5, sv.sum1, sa.norm, b3,
                                     g.w.norm1_weight, g.w.norm1_bias);
    self_attention_backward(z, opt.norm_first, sa, self_attention, x, sv.self_attention, da1,
                            self_attention_grads_of<T>(g.w), dqkv, dq, dk, dv, b6, b4, b2, g.x);
}

#define ATTNLAB_INSTANTIATE(T)                                                                    \
    template void decoder_layer_forward<T>(                                                       \
        const DecoderLayerShape&, const DecoderLayerWeights<T>&, const DecoderLayerOptions&,      \
        const EncoderLayerAttention<T>&, const EncoderLayerAttention<T>&, const T*, const T*, T*, \
        const DecoderLayerSaved<T>&);                                                             \
    template void decoder_layer_backward<T>(                                                      \
        const DecoderLayerShape&, const DecoderLayerWeights<T>&, const DecoderLayerOptions&,      \
        const EncoderLayerAttention<T>&, const EncoderLayerAttention<T>&, const T*, const T*,     \
        const DecoderLayerSaved<T>&, const T*, const DecoderLayerGrads<T>&);
ATTNLAB_INSTANTIATE(float)
ATTNLAB_INSTANTIATE(double)
#undef ATTNLAB_INSTANTIATE

}  // namespace attnlab::layers
