// The encoder layer forward and backward: the core's own kernels (linear, layer norm, attention
// with its weights, activation, rope) in the order and layouts of the Python composition in
// nn/transformer_encoder.py, over one workspace a call; the head splits and merges and the
// residual sums between them are the active arch's plumbing (layers/plumbing.cpp, xtensor).
#include "layers/encoder_layer.hpp"

#include <algorithm>
#include <array>
#include <cmath>
#include <utility>
#include <vector>

#include "kernel_table.hpp"
#include "row_tiles.hpp"
#include "threads.hpp"
#include "workspace.hpp"

namespace attnlab::layers {
namespace {

// out = a + b over n elements, in tiles on the pool.
template <class T>
void add(const T* a, const T* b, index_t n, T* out) {
    const auto sum = active_kernels().plumbing<T>().add;
    for_row_tiles(n, 1, [&](index_t, index_t i, index_t m) { sum(a + i, b + i, m, out + i); });
}

// The sizes one call works with.
struct Sizes {
    index_t b, l, c, f, heads, kv_heads, d, n, e, lk, past;
    explicit Sizes(const EncoderLayerShape& s)
        : b(s.batch), l(s.length), c(s.d_model), f(s.dim_feedforward), heads(s.heads),
          kv_heads(s.kv_heads), d(s.heads > 0 ? s.d_model / s.heads : 0), n(b * l),
          e(c + 2 * kv_heads * d), lk(s.past + l), past(s.past) {}
};

template <class T>
void merge_heads(const Sizes& z, const T* heads, T* rows) {  // (B, H, L, D) -> (B, L, C)
    const auto gather = active_kernels().plumbing<T>().gather;
    threads::parallel_for(z.b, [&](index_t i, int) {
        gather(heads + i * z.heads * z.l * z.d, z.l, z.heads, z.d, z.d, z.l * z.d,
               rows + i * z.l * z.c);
    });
}

// The positions of this call's tokens, past, ..., past + length - 1.
std::vector<double> positions(const Sizes& z) {
    std::vector<double> p(static_cast<std::size_t>(z.l));
    for (index_t i = 0; i < z.l; ++i) p[static_cast<std::size_t>(i)] = double(z.past + i);
    return p;
}

template <class T>
AttentionInputs<T> attention_inputs(const EncoderLayerAttention<T>& at, const T* q, const T* k,
                                    const T* v) {
    AttentionInputs<T> in;
    in.q = q;
    in.k = k;
    in.v = v;
    in.mask = at.mask;
    in.alibi_slopes = at.alibi_slopes;
    return in;
}

AttentionShape attention_shape(const Sizes& z) {
    AttentionShape shape;
    shape.batch = z.b;
    shape.heads = z.heads;
    shape.kv_heads = z.kv_heads;
    shape.lq = z.l;
    shape.lk = z.lk;
    shape.dim = shape.dim_v = z.d;
    return shape;
}

AttentionOptions attention_options(const Sizes& z, const EncoderLayerOptions& opt) {
    AttentionOptions ao;
    ao.scale = z.d > 0 ? 1.0 / std::sqrt(static_cast<double>(z.d)) : 1.0;
    ao.causal = opt.causal;
    ao.bottom_right = z.past > 0;
    ao.dropout_p = opt.attention_dropout.p;
    ao.seed = opt.attention_dropout.seed;
    return ao;
}

// y = dropout(x) over n elements (y may be x); the backward is the same call on the gradient.
template <class T>
void drop(const DropoutOption& dropout, const T* x, index_t n, T* y) {
    if (dropout.p > 0) dropout_forward(x, n, dropout.p, dropout.seed, y);
    else if (y != x) std::copy(x, x + n, y);
}

}  // namespace

template <class T>
void encoder_layer_forward(const EncoderLayerShape& s, const EncoderLayerWeights<T>& w,
                           const EncoderLayerOptions& opt, const EncoderLayerAttention<T>& at,
                           const T* x, T* out, const EncoderLayerSaved<T>* saved) {
    const Sizes z(s);
    const index_t n = z.n, c = z.c, f = z.f, d = z.d, l = z.l, e = z.e;
    const auto gather = active_kernels().plumbing<T>().gather;
    // (b, kv head) bh's first key (or value) row of the past, and of the whole, keys.
    auto past_row = [&](index_t bh) { return bh * z.past * d; };
    auto all_row = [&](index_t bh) { return bh * z.lk * d; };
    if (at.keys && l == 0)  // nothing new: the cache's next state is its past
        threads::parallel_for(z.b * z.kv_heads, [&](index_t bh, int) {
            gather(at.past_keys + past_row(bh), 1, z.past, d, 0, d, at.keys + all_row(bh));
            gather(at.past_values + past_row(bh), 1, z.past, d, 0, d, at.values + all_row(bh));
        });
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

    // Heads: q (B, H, L, D); keys and values (B, Hkv, past + L, D) after the past's. New keys
    // to rotate go through r6 (free now), so that one rope call turns them all.
    const bool rotate_apart = opt.rotary && z.past > 0;
    const index_t kv = z.kv_heads * d;
    threads::parallel_for(z.b, [&](index_t i, int) {
        const T* row = r1 + i * l * e;
        gather(row, z.heads, l, d, d, e, q + i * z.heads * l * d);  // (H, L, D)
        for (index_t hk = 0; hk < z.kv_heads; ++hk) {
            const index_t bh = i * z.kv_heads + hk;
            if (z.past > 0) {
                gather(at.past_keys + past_row(bh), 1, z.past, d, 0, d, keys + all_row(bh));
                gather(at.past_values + past_row(bh), 1, z.past, d, 0, d, values + all_row(bh));
            }
            T* new_keys = rotate_apart ? r6 + bh * l * d : keys + all_row(bh) + z.past * d;
            gather(row + c + hk * d, 1, l, d, 0, e, new_keys);
            gather(row + c + kv + hk * d, 1, l, d, 0, e, values + all_row(bh) + z.past * d);
        }
    });
    if (opt.rotary) {
        const std::vector<double> at_position = positions(z);
        rope_forward(q, z.b * z.heads * l, d, at_position.data(), l, opt.rope, false, q);
        T* new_keys = rotate_apart ? r6 : keys;  // contiguous (B, Hkv, L, D) either way
        rope_forward(new_keys, z.b * z.kv_heads * l, d, at_position.data(), l, opt.rope, false,
                     new_keys);
        if (rotate_apart)
            threads::parallel_for(z.b * z.kv_heads, [&](index_t bh, int) {
                gather(r6 + bh * l * d, 1, l, d, 0, d, keys + all_row(bh) + z.past * d);
            });
    }

    T* attention = saved ? saved->attention : r5;
    attention_forward(attention_shape(z), attention_inputs(at, q, keys, values),
                      attention_options(z, opt), attention, at.weights,
                      saved ? saved->stats : SoftmaxStats<T>{});  // (B, H, L, D)
    merge_heads(z, attention, r2);
    linear_forward(r2, n, c, w.out_proj_weight, c, w.out_proj_bias, r6);
    drop(opt.dropout1, r6, n * c, r6);

    // x1 = x + attn(norm1(x)) (pre-norm) or norm1(x + attn(x)) (post-norm); the output is x1
    // alone in a layer without a feed-forward block.
    const bool last = f == 0;
    T* x1 = last ? out : saved ? saved->x1 : opt.norm_first ? r5 : r2;
    T* sum1 = saved && !opt.norm_first ? saved->sum1 : r5;
    add(x, r6, n * c, opt.norm_first ? x1 : sum1);
    if (!opt.norm_first)
        layer_norm_forward(sum1, n, c, w.norm1_weight, w.norm1_bias, opt.norm1_eps, x1);
    if (last) return;

    const T* h2 = x1;
    if (opt.norm_first) {
        layer_norm_forward(x1, n, c, w.norm2_weight, w.norm2_bias, opt.norm2_eps, r6);
        h2 = r6;
    }
    T* hidden = saved ? saved->hidden : r1;
    T* activated = saved ? saved->activated : r1;
    linear_forward(h2, n, c, w.linear1_weight, f, w.linear1_bias, hidden);  // (B, L, F)
    activation_forward(opt.activation, hidden, n * f, activated);
    drop(opt.dropout, activated, n * f, activated);
    linear_forward(activated, n, f, w.linear2_weight, c, w.linear2_bias, r6);
    drop(opt.dropout2, r6, n * c, r6);
    if (opt.norm_first) {
        add(x1, r6, n * c, out);
    } else {
        T* sum2 = saved ? saved->sum2 : r5;
        add(x1, r6, n * c, sum2);
        layer_norm_forward(sum2, n, c, w.norm2_weight, w.norm2_bias, opt.norm2_eps, out);
    }
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
        const std::array<std::pair<T*, index_t>, 12> all = {{{g.w.in_proj_weight, e * c},
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
                                                             {g.w.norm2_bias, c}}};
        for (const auto& [p, count] : all)
            if (p) std::fill(p, p + count, T(0));
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
        // Post-norm: out = norm2(sum2), sum2 = x1 + ff(x1); pre-norm: out = x1 + ff(norm2(x1)).
        const T* dff = grad_out;  // the feed-forward block's output's, then its product's
        if (!opt.norm_first) {
            layer_norm_backward(grad_out, sv.sum2, n, c, w.norm2_weight, opt.norm2_eps, b3,
                                g.w.norm2_weight, g.w.norm2_bias);
            dff = b3;
        }
        if (opt.dropout2.p > 0) {
            drop(opt.dropout2, dff, n * c, b6);
            dff = b6;
        }
        linear_backward(dff, sv.activated, w.linear2_weight, n, f, c, dh1, g.w.linear2_weight,
                        g.w.linear2_bias);
        drop(opt.dropout, dh1, n * f, dh1);
        activation_backward(opt.activation, dh1, sv.hidden, n * f, dh1);
        const T* h2 = sv.x1;
        if (opt.norm_first) {
            layer_norm_forward(sv.x1, n, c, w.norm2_weight, w.norm2_bias, opt.norm2_eps, b4);
            h2 = b4;
        }
        T* dh2 = opt.norm_first ? b3 : b4;
        linear_backward(dh1, h2, w.linear1_weight, n, c, f, dh2, g.w.linear1_weight,
                        g.w.linear1_bias);
        if (opt.norm_first) {
            layer_norm_backward(dh2, sv.x1, n, c, w.norm2_weight, opt.norm2_eps, b2,
                                g.w.norm2_weight, g.w.norm2_bias);
            add(b2, grad_out, n * c, b2);
        } else {
            add(b3, dh2, n * c, b2);
        }
    }
    // The attention block: post-norm x1 = norm1(sum1), sum1 = x + a; pre-norm x1 = x + a.
    // da: the gradient of a, and of x through the residual; then of out_proj's output.
    const T* da = dx1;
    if (!opt.norm_first) {
        layer_norm_backward(dx1, sv.sum1, n, c, w.norm1_weight, opt.norm1_eps, b3, g.w.norm1_weight,
                            g.w.norm1_bias);
        da = b3;
    }
    const T* dprojected = da;
    if (opt.dropout1.p > 0) {
        drop(opt.dropout1, da, n * c, b6);
        dprojected = b6;
    }
    merge_heads(z, sv.attention, b4);  // the out projection's input, again
    linear_backward(dprojected, b4, w.out_proj_weight, n, c, c, b5, g.w.out_proj_weight,
                    g.w.out_proj_bias);  // b5: d merged
    T* dattention = b4;                  // (B, H, L, D)
    const auto gather = active_kernels().plumbing<T>().gather;
    threads::parallel_for(z.b, [&](index_t i, int) {
        gather(b5 + i * l * c, z.heads, l, d, d, c, dattention + i * z.heads * l * d);
    });
    attention_backward<T>(attention_shape(z), attention_inputs<T>(at, sv.q, sv.k, sv.v),
                          attention_options(z, opt), dattention, dq, dk, dv, nullptr, sv.attention,
                          SoftmaxStats<const T>{sv.stats.row_max_base2, sv.stats.row_inv});
    if (opt.rotary) {  // rotating back is rope's backward
        const std::vector<double> at_position = positions(z);
        rope_forward(dq, z.b * z.heads * l, d, at_position.data(), l, opt.rope, true, dq);
        rope_forward(dk, z.b * z.kv_heads * l, d, at_position.data(), l, opt.rope, true, dk);
    }
    // d qkv (B, L, E): each head's rows into its columns, a row of D at a time (a strided
    // destination, which xtensor 0.24 assigns only element by element).
    T* dqkv = r;
    threads::parallel_for(z.b, [&](index_t i, int) {
        for (index_t j = 0; j < l; ++j) {
            T* row = dqkv + (i * l + j) * e;
            for (index_t hq = 0; hq < z.heads; ++hq) {
                const T* from = dq + ((i * z.heads + hq) * l + j) * d;
                std::copy(from, from + d, row + hq * d);
            }
            for (index_t hk = 0; hk < z.kv_heads; ++hk) {
                const index_t at_row = ((i * z.kv_heads + hk) * l + j) * d;
                std::copy(dk + at_row, dk + at_row + d, row + c + hk * d);
                std::copy(dv + at_row, dv + at_row + d, row + c + kv + hk * d);
            }
        }
    });
    const T* h = x;
    if (opt.norm_first) {
        layer_norm_forward(x, n, c, w.norm1_weight, w.norm1_bias, opt.norm1_eps, b5);
        h = b5;
    }
    // dh (b4, d attention is dead): the gradient of the projection's input, which x's needs,
    // and pre-norm norm1's parameters'.
    const bool norm1_grads = opt.norm_first && (g.w.norm1_weight || g.w.norm1_bias);
    T* dh = g.x || norm1_grads ? b4 : nullptr;
    linear_backward(dqkv, h, w.in_proj_weight, n, c, e, dh, g.w.in_proj_weight, g.w.in_proj_bias);
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
