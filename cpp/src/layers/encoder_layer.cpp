// The encoder layer forward and backward: its sublayers (layers/sublayers.cpp) and the
// attention between them in the order and layouts of the Python composition in
// nn/transformer_encoder.py, over one workspace a call.
#include "layers/encoder_layer.hpp"

#include <algorithm>

#include "kernel_table.hpp"
#include "layers/sublayers.hpp"
#include "threads.hpp"
#include "workspace.hpp"

namespace attnlab::layers {
namespace {

template <class T>
FeedForward<T> feed_forward(const Sizes& z, const EncoderLayerWeights<T>& w,
                            const EncoderLayerOptions& opt) {
    FeedForward<T> ff;
    ff.f = z.f;
    ff.linear1_weight = w.linear1_weight;
    ff.linear1_bias = w.linear1_bias;
    ff.linear2_weight = w.linear2_weight;
    ff.linear2_bias = w.linear2_bias;
    ff.norm = {w.norm2_weight, w.norm2_bias, opt.norm2_eps};
    ff.activation = opt.activation;
    ff.dropout = opt.dropout;
    ff.dropout_out = opt.dropout2;
    return ff;
}

}  // namespace

template <class T>
void encoder_layer_forward(const EncoderLayerShape& s, const EncoderLayerWeights<T>& w,
                           const EncoderLayerOptions& opt, const EncoderLayerAttention<T>& at,
                           const T* x, T* out, const EncoderLayerSaved<T>* saved) {
    const Sizes z(s);
    const index_t n = z.n, c = z.c, f = z.f, d = z.d, l = z.l, e = z.e;
    if (at.keys && l == 0) {  // nothing new: the cache's next state is its past
        const auto gather = active_kernels().plumbing<T>().gather;
        threads::parallel_for(z.b * z.kv_heads, [&](index_t bh, int) {
            gather(at.past_keys + bh * z.past * d, 1, z.past, d, 0, d, at.keys + bh * z.lk * d);
            gather(at.past_values + bh * z.past * d, 1, z.past, d, 0, d, at.values + bh * z.lk * d);
        });
    }
    if (n == 0 || c == 0) return;

    // The workspace, regions reused as their contents die: r1 the projections (qkv, then the
    // feed-forward hidden layer), r2 q then the merged heads (then x1, post-norm), r5 the
    // attention output then the residual sums, r6 norm1(x), new keys, out_proj's, norm2(x1)
    // and linear2's outputs; kbuf and vbuf all keys and values unless kept elsewhere. A
    // training forward puts q, k, v, the attention, x1, the sums and the hidden layer in
    // `saved` instead.
    const bool own_kv = !at.keys && !saved;
    const index_t kv_size = z.b * z.kv_heads * z.lk * d;
    workspace::Buffer<T> ws(n * std::max(e, f) + 3 * n * c + (own_kv ? 2 * kv_size : 0), false);
    T* r1 = ws.get();
    T* r2 = r1 + n * std::max(e, f);
    T* r5 = r2 + n * c;
    T* r6 = r5 + n * c;
    T* q = saved ? saved->q : r2;
    T* keys = saved ? saved->k : own_kv ? r6 + n * c : at.keys;
    T* values = saved ? saved->v : own_kv ? keys + kv_size : at.values;

    const T* h = x;
    if (opt.norm_first) {
        layer_norm_forward(x, n, c, w.norm1_weight, w.norm1_bias, opt.norm1_eps, r6);
        h = r6;
    }
    linear_forward(h, n, c, w.in_proj_weight, e, w.in_proj_bias, r1);  // (B, L, E)
    packed_heads(z, opt.rotary, opt.rope, at, r1, q, keys, values, r6);

    T* attention = saved ? saved->attention : r5;
    attention_forward(attention_shape(z), attention_inputs(at, q, keys, values),
                      attention_options(z, opt.causal, opt.attention_dropout), attention,
                      at.weights, saved ? saved->stats : SoftmaxStats<T>{});  // (B, H, L, D)
    attention_output_forward(z, attention, w.out_proj_weight, w.out_proj_bias, opt.dropout1, r2,
                             r6);

    // x1 = x + attn(norm1(x)) (pre-norm) or norm1(x + attn(x)) (post-norm); the output is x1
    // alone in a layer without a feed-forward block.
    const bool last = f == 0;
    T* x1 = last ? out : saved ? saved->x1 : opt.norm_first ? r5 : r2;
    T* sum1 = saved && !opt.norm_first ? saved->sum1 : r5;
    residual_forward<T>(opt.norm_first, n, c, x, r6, {w.norm1_weight, w.norm1_bias, opt.norm1_eps},
                        sum1, x1);
    if (last) return;
    feed_forward_forward(opt.norm_first, n, c, feed_forward(z, w, opt), x1, r6,
                         saved ? saved->hidden : r1, saved ? saved->activated : r1,
                         saved ? saved->sum2 : r5, out);
}

template <class T>
void encoder_layer_backward(const EncoderLayerShape& s, const EncoderLayerWeights<T>& w,
                            const EncoderLayerOptions& opt, const EncoderLayerAttention<T>& at,
                            const T* x, const EncoderLayerSaved<T>& sv, const T* grad_out,
                            const EncoderLayerGrads<T>& g) {
    const Sizes z(s);
    const index_t n = z.n, c = z.c, f = z.f, d = z.d, l = z.l, e = z.e;
    const index_t kv = z.kv_heads * d;
    if (n == 0 || c == 0) {  // no token: every parameter's gradient is zero
        zero_gradients<T>({{g.w.in_proj_weight, e * c},
                           {g.w.in_proj_bias, e},
                           {g.w.out_proj_weight, c * c},
                           {g.w.out_proj_bias, c},
                           {g.w.linear1_weight, f * c},
                           {g.w.linear1_bias, f},
                           {g.w.linear2_weight, c * f},
                           {g.w.linear2_bias, c},
                           {g.w.norm1_weight, c},
                           {g.w.norm1_bias, c},
                           {g.w.norm2_weight, c},
                           {g.w.norm2_bias, c}});
        return;
    }
    // The workspace: r (n, e) the gradient of qkv; dh1 (n, f) the gradient of linear1's
    // output; b2..b6 (n, c) gradients and recomputed inputs as noted (a product's gradient
    // never goes where its input is: linear_backward reads the input after writing dx); dq,
    // dk, dv.
    const index_t kv_grads = z.b * kv * l;
    workspace::Buffer<T> ws(n * e + n * f + 6 * n * c + 2 * kv_grads, false);
    T* r = ws.get();
    T* dh1 = r + n * e;
    T* b2 = dh1 + n * f;
    T* b3 = b2 + n * c;
    T* b4 = b3 + n * c;
    T* b5 = b4 + n * c;
    T* b6 = b5 + n * c;
    T* dq = b6 + n * c;
    T* dk = dq + n * c;
    T* dv = dk + kv_grads;

    // dx1 (b2): the gradient reaching the attention block's output x1, when it has one of
    // its own (post-norm without a feed-forward block: out = x1 = norm1(sum1)).
    const T* dx1 = b2;
    if (f == 0) {
        dx1 = grad_out;
    } else {
        FeedForwardGrads<T> ffg{g.w.linear1_weight, g.w.linear1_bias, g.w.linear2_weight,
                                g.w.linear2_bias,   g.w.norm2_weight, g.w.norm2_bias};
        feed_forward_backward(opt.norm_first, n, c, feed_forward(z, w, opt), sv.x1, sv.sum2,
                              sv.hidden, sv.activated, grad_out, ffg, dh1, b3, b4, b6, b2);
    }
    // The attention block: post-norm x1 = norm1(sum1), sum1 = x + a; pre-norm x1 = x + a.
    // da: the gradient of a, and of x through the residual.
    const Norm<T> norm1{w.norm1_weight, w.norm1_bias, opt.norm1_eps};
    const T* da = residual_backward(opt.norm_first, n, c, dx1, sv.sum1, norm1, b3, g.w.norm1_weight,
                                    g.w.norm1_bias);
    attention_output_backward(z, da, opt.dropout1, sv.attention, w.out_proj_weight,
                              g.w.out_proj_weight, g.w.out_proj_bias, b6, b4, b5);
    attention_backward<T>(attention_shape(z), attention_inputs<T>(at, sv.q, sv.k, sv.v),
                          attention_options(z, opt.causal, opt.attention_dropout), b4, dq, dk, dv,
                          nullptr, sv.attention,
                          SoftmaxStats<const T>{sv.stats.row_max_base2, sv.stats.row_inv});
    if (opt.rotary) rotate_back(z, opt.rope, dq, dk);
    // d qkv (B, L, E): each head's rows into its columns.
    heads_to_rows(dq, z.b, z.heads, l, d, r, e);
    heads_to_rows(dk, z.b, z.kv_heads, l, d, r + c, e);
    heads_to_rows(dv, z.b, z.kv_heads, l, d, r + c + kv, e);
    const T* h = x;
    if (opt.norm_first) {
        layer_norm_forward(x, n, c, w.norm1_weight, w.norm1_bias, opt.norm1_eps, b5);
        h = b5;
    }
    // dh (b4, d attention is dead): the gradient of the projection's input, which x's needs,
    // and pre-norm norm1's parameters'.
    const bool norm1_grads = opt.norm_first && (g.w.norm1_weight || g.w.norm1_bias);
    T* dh = g.x || norm1_grads ? b4 : nullptr;
    linear_backward(r, h, w.in_proj_weight, n, c, e, dh, g.w.in_proj_weight, g.w.in_proj_bias);
    if (opt.norm_first && dh)
        layer_norm_backward(dh, x, n, c, w.norm1_weight, opt.norm1_eps, g.x ? g.x : b3,
                            g.w.norm1_weight, g.w.norm1_bias);
    // x's gradient: through the residual (da) and through the projection (norm1's gradient
    // of dh, pre-norm, in g.x already; dh itself, post-norm).
    if (g.x) add(da, opt.norm_first ? g.x : dh, n * c, g.x);
}

#define ATTNLAB_INSTANTIATE(T)                                                               \
    template void encoder_layer_forward<T>(                                                  \
        const EncoderLayerShape&, const EncoderLayerWeights<T>&, const EncoderLayerOptions&, \
        const EncoderLayerAttention<T>&, const T*, T*, const EncoderLayerSaved<T>*);         \
    template void encoder_layer_backward<T>(                                                 \
        const EncoderLayerShape&, const EncoderLayerWeights<T>&, const EncoderLayerOptions&, \
        const EncoderLayerAttention<T>&, const T*, const EncoderLayerSaved<T>&, const T*,    \
        const EncoderLayerGrads<T>&);
ATTNLAB_INSTANTIATE(float)
ATTNLAB_INSTANTIATE(double)
#undef ATTNLAB_INSTANTIATE

}  // namespace attnlab::layers
