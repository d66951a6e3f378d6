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
    return feed_forward_of<T>(z.f, w, {w.norm2_weight, w.norm2_bias, opt.norm2_eps}, opt.activation,
                              opt.dropout, opt.dropout2);
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
    T* keys = saved ? nullptr : own_kv ? r6 + n * c : at.keys;
    const AttentionActivations<T> kept =
        saved ? saved->self_attention
              : AttentionActivations<T>{r2, keys, own_kv ? keys + kv_size : at.values, r5, {}};
    const SelfAttention<T> sa = self_attention_of<T>(w, opt);
    self_attention_forward(z, opt.norm_first, sa, at, x, r1, kept, r2, r6);

    // x1 = x + attn(norm1(x)) (pre-norm) or norm1(x + attn(x)) (post-norm); the output is x1
    // alone in a layer without a feed-forward block.
    const bool last = f == 0;
    T* x1 = last ? out : saved ? saved->x1 : opt.norm_first ? r5 : r2;
    T* sum1 = saved && !opt.norm_first ? saved->sum1 : r5;
    residual_forward(opt.norm_first, n, c, x, r6, sa.norm, sum1, x1);
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
    const index_t n = z.n, c = z.c, f = z.f, d = z.d, l = z.l;
    const index_t kv = z.kv_heads * d;
    if (n == 0 || c == 0) return;  // the caller zeroes the gradients
    const BackwardScratch<T> ws(z, z.b * kv * l, 0);
    T *r = ws.dqkv, *dh1 = ws.dh, *b2 = ws.b2, *b3 = ws.b3, *b4 = ws.b4, *b5 = ws.b5, *b6 = ws.b6;
    T *dq = ws.dq, *dk = ws.dk, *dv = ws.dv;

    // dx1 (b2): the gradient reaching the attention block's output x1, when it has one of
    // its own (post-norm without a feed-forward block: out = x1 = norm1(sum1)).
    const T* dx1 = b2;
    if (f == 0) {
        dx1 = grad_out;
    } else {
        const FeedForwardGrads<T> ffg =
            feed_forward_grads_of(g.w, g.w.norm2_weight, g.w.norm2_bias);
        feed_forward_backward(opt.norm_first, n, c, feed_forward(z, w, opt), sv.x1, sv.sum2,
                              sv.hidden, sv.activated, grad_out, ffg, dh1, b3, b4, b6, b2);
    }
    // The attention block: post-norm x1 = norm1(sum1), sum1 = x + a; pre-norm x1 = x + a.
    // da: the gradient of a, and of x through the residual.
    const SelfAttention<T> sa = self_attention_of<T>(w, opt);
    const T* da = residual_backward(opt.norm_first, n, c, dx1, sv.sum1, sa.norm, b3,
                                    g.w.norm1_weight, g.w.norm1_bias);
    self_attention_backward(z, opt.norm_first, sa, at, x, sv.self_attention, da,
                            self_attention_grads_of<T>(g.w), r, dq, dk, dv, b6, b4, b5, g.x);
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
