// The fused layers' sublayers: the core's own kernels (linear, layer norm, attention's
// operands, activation, rope, dropout); the head splits and merges and the residual sums
// between them are the active arch's plumbing (layers/plumbing.cpp, xtensor).
#include "layers/sublayers.hpp"

#include <algorithm>
#include <cmath>

#include "kernel_table.hpp"
#include "row_tiles.hpp"
#include "threads.hpp"

namespace attnlab::layers {

Sizes::Sizes(const EncoderLayerShape& s)
    : b(s.batch), l(s.length), c(s.d_model), f(s.dim_feedforward), heads(s.heads),
      kv_heads(s.kv_heads), d(s.heads > 0 ? s.d_model / s.heads : 0), n(b * l),
      e(c + 2 * kv_heads * d), lk(s.past + l), past(s.past) {}

template <class T>
void add(const T* a, const T* b, index_t n, T* out) {
    const auto sum = active_kernels().plumbing<T>().add;
    for_row_tiles(n, 1, [&](index_t, index_t i, index_t m) { sum(a + i, b + i, m, out + i); });
}

template <class T>
void drop(const DropoutOption& dropout, const T* x, index_t n, T* y) {
    if (dropout.p > 0) dropout_forward(x, n, dropout.p, dropout.seed, y);
    else if (y != x) std::copy(x, x + n, y);
}

template <class T>
void merge_heads(const Sizes& z, const T* heads, T* rows) {
    const auto gather = active_kernels().plumbing<T>().gather;
    threads::parallel_for(z.b, [&](index_t i, int) {
        gather(heads + i * z.heads * z.l * z.d, z.l, z.heads, z.d, z.d, z.l * z.d,
               rows + i * z.l * z.c);
    });
}

template <class T>
void heads_to_rows(const T* heads, index_t b, index_t h, index_t l, index_t d, T* rows,
                   index_t stride) {
    // A strided destination, which xtensor 0.24 assigns only element by element: copies.
    threads::parallel_for(b, [&](index_t i, int) {
        for (index_t j = 0; j < l; ++j) {
            T* row = rows + (i * l + j) * stride;
            for (index_t hh = 0; hh < h; ++hh) {
                const T* from = heads + ((i * h + hh) * l + j) * d;
                std::copy(from, from + d, row + hh * d);
            }
        }
    });
}

template <class T>
void rows_to_heads(const T* rows, index_t stride, index_t b, index_t h, index_t l, index_t d,
                   T* heads) {
    const auto gather = active_kernels().plumbing<T>().gather;
    threads::parallel_for(b, [&](index_t i, int) {
        gather(rows + i * l * stride, h, l, d, d, stride, heads + i * h * l * d);
    });
}

std::vector<double> positions(const Sizes& z) {
    std::vector<double> p(static_cast<std::size_t>(z.l));
    for (index_t i = 0; i < z.l; ++i) p[static_cast<std::size_t>(i)] = double(z.past + i);
    return p;
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

AttentionOptions attention_options(const Sizes& z, bool causal, const DropoutOption& dropout) {
    AttentionOptions ao;
    ao.scale = z.d > 0 ? 1.0 / std::sqrt(static_cast<double>(z.d)) : 1.0;
    ao.causal = causal;
    ao.bottom_right = z.past > 0;
    ao.dropout_p = dropout.p;
    ao.seed = dropout.seed;
    return ao;
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

template <class T>
void packed_heads(const Sizes& z, bool rotary, const RopeOptions& rope,
                  const EncoderLayerAttention<T>& at, const T* qkv, T* q, T* keys, T* values,
                  T* scratch) {
    const index_t d = z.d, l = z.l, e = z.e, c = z.c, kv = z.kv_heads * d;
    const auto gather = active_kernels().plumbing<T>().gather;
    // (b, kv head) bh's first key (or value) row of the past, and of the whole, keys.
    auto past_row = [&](index_t bh) { return bh * z.past * d; };
    auto all_row = [&](index_t bh) { return bh * z.lk * d; };
    // New keys to rotate after a past go through scratch, so that one rope call turns them all.
    const bool rotate_apart = rotary && z.past > 0;
    threads::parallel_for(z.b, [&](index_t i, int) {
        const T* row = qkv + i * l * e;
        gather(row, z.heads, l, d, d, e, q + i * z.heads * l * d);  // (H, L, D)
        for (index_t hk = 0; hk < z.kv_heads; ++hk) {
            const index_t bh = i * z.kv_heads + hk;
            if (z.past > 0) {
                gather(at.past_keys + past_row(bh), 1, z.past, d, 0, d, keys + all_row(bh));
                gather(at.past_values + past_row(bh), 1, z.past, d, 0, d, values + all_row(bh));
            }
            T* new_keys = rotate_apart ? scratch + bh * l * d : keys + all_row(bh) + z.past * d;
            gather(row + c + hk * d, 1, l, d, 0, e, new_keys);
            gather(row + c + kv + hk * d, 1, l, d, 0, e, values + all_row(bh) + z.past * d);
        }
    });
    if (!rotary) return;
    const std::vector<double> at_position = positions(z);
    rope_forward(q, z.b * z.heads * l, d, at_position.data(), l, rope, false, q);
    T* new_keys = rotate_apart ? scratch : keys;  // contiguous (B, Hkv, L, D) either way
    rope_forward(new_keys, z.b * z.kv_heads * l, d, at_position.data(), l, rope, false, new_keys);
    if (rotate_apart)
        threads::parallel_for(z.b * z.kv_heads, [&](index_t bh, int) {
            gather(scratch + bh * l * d, 1, l, d, 0, d, keys + all_row(bh) + z.past * d);
        });
}

template <class T>
void rotate_back(const Sizes& z, const RopeOptions& rope, T* dq, T* dk) {
    const std::vector<double> at_position = positions(z);  // rotating back is rope's backward
    rope_forward(dq, z.b * z.heads * z.l, z.d, at_position.data(), z.l, rope, true, dq);
    rope_forward(dk, z.b * z.kv_heads * z.l, z.d, at_position.data(), z.l, rope, true, dk);
}

template <class T>
void attention_output_forward(const Sizes& z, const T* attention, const T* weight, const T* bias,
                              const DropoutOption& dropout, T* merged, T* a) {
    merge_heads(z, attention, merged);
    linear_forward(merged, z.n, z.c, weight, z.c, bias, a);
    drop(dropout, a, z.n * z.c, a);
}

template <class T>
void attention_output_backward(const Sizes& z, const T* da, const DropoutOption& dropout,
                               const T* attention, const T* weight, T* dweight, T* dbias,
                               T* dropped, T* merged, T* dmerged) {
    const T* dprojected = da;
    if (dropout.p > 0) {
        drop(dropout, da, z.n * z.c, dropped);
        dprojected = dropped;
    }
    merge_heads(z, attention, merged);  // the out projection's input, again
    linear_backward(dprojected, merged, weight, z.n, z.c, z.c, dmerged, dweight, dbias);
    rows_to_heads(dmerged, z.c, z.b, z.heads, z.l, z.d, merged);
}

template <class T>
void residual_forward(bool norm_first, index_t n, index_t c, const T* x, const T* a,
                      const Norm<T>& norm, T* sum, T* x1) {
    add(x, a, n * c, norm_first ? x1 : sum);
    if (!norm_first) layer_norm_forward(sum, n, c, norm.weight, norm.bias, norm.eps, x1);
}

template <class T>
const T* residual_backward(bool norm_first, index_t n, index_t c, const T* dx1, const T* sum,
                           const Norm<T>& norm, T* dsum, T* dnorm_weight, T* dnorm_bias) {
    if (norm_first) return dx1;
    layer_norm_backward(dx1, sum, n, c, norm.weight, norm.eps, dsum, dnorm_weight, dnorm_bias);
    return dsum;
}

template <class T>
void self_attention_forward(const Sizes& z, bool norm_first, const SelfAttention<T>& sa,
                            const EncoderLayerAttention<T>& at, const T* x, T* qkv,
                            const AttentionActivations<T>& kept, T* merged, T* a) {
    const T* h = x;
    if (norm_first) {
        layer_norm_forward(x, z.n, z.c, sa.norm.weight, sa.norm.bias, sa.norm.eps, a);
        h = a;
    }
    linear_forward(h, z.n, z.c, sa.in_proj_weight, z.e, sa.in_proj_bias, qkv);  // (B, L, E)
    packed_heads(z, sa.rotary, sa.rope, at, qkv, kept.q, kept.k, kept.v, a);
    attention_forward(attention_shape(z), attention_inputs(at, kept.q, kept.k, kept.v),
                      attention_options(z, sa.causal, sa.attention_dropout), kept.attention,
                      at.weights, kept.stats);  // (B, H, L, D)
    attention_output_forward(z, kept.attention, sa.out_proj_weight, sa.out_proj_bias, sa.dropout,
                             merged, a);
}

template <class T>
void self_attention_backward(const Sizes& z, bool norm_first, const SelfAttention<T>& sa,
                             const EncoderLayerAttention<T>& at, const T* x,
                             const AttentionActivations<T>& kept, const T* da,
                             const SelfAttentionGrads<T>& g, T* dqkv, T* dq, T* dk, T* dv, T* s1,
                             T* s2, T* s3, T* dx) {
    const index_t n = z.n, c = z.c, d = z.d, l = z.l, e = z.e, kv = z.kv_heads * d;
    attention_output_backward(z, da, sa.dropout, kept.attention, sa.out_proj_weight,
                              g.out_proj_weight, g.out_proj_bias, s1, s2, s3);  // d attention: s2
    attention_backward<T>(attention_shape(z), attention_inputs<T>(at, kept.q, kept.k, kept.v),
                          attention_options(z, sa.causal, sa.attention_dropout), s2, dq, dk, dv,
                          nullptr, kept.attention,
                          SoftmaxStats<const T>{kept.stats.row_max_base2, kept.stats.row_inv});
    if (sa.rotary) rotate_back(z, sa.rope, dq, dk);
    heads_to_rows(dq, z.b, z.heads, l, d, dqkv, e);  // d qkv (B, L, E)
    heads_to_rows(dk, z.b, z.kv_heads, l, d, dqkv + c, e);
    heads_to_rows(dv, z.b, z.kv_heads, l, d, dqkv + c + kv, e);
    const T* h = x;
    if (norm_first) {
        layer_norm_forward(x, n, c, sa.norm.weight, sa.norm.bias, sa.norm.eps, s3);
        h = s3;
    }
    // dh (s2, d attention is dead): the gradient of the projection's input, which x's needs,
    // and pre-norm the norm's parameters'.
    const bool norm_grads = norm_first && (g.norm_weight || g.norm_bias);
    T* dh = dx || norm_grads ? s2 : nullptr;
    linear_backward(dqkv, h, sa.in_proj_weight, n, c, e, dh, g.in_proj_weight, g.in_proj_bias);
    if (norm_first && dh)
        layer_norm_backward(dh, x, n, c, sa.norm.weight, sa.norm.eps, dx ? dx : s1, g.norm_weight,
                            g.norm_bias);
    // x's gradient: through the residual (da) and through the projection (the norm's gradient
    // of dh, pre-norm, in dx already; dh itself, post-norm).
    if (dx) add(da, norm_first ? dx : dh, n * c, dx);
}

template <class T>
void feed_forward_forward(bool norm_first, index_t n, index_t c, const FeedForward<T>& ff,
                          const T* x, T* scratch, T* hidden, T* activated, T* sum, T* out) {
    const index_t f = ff.f;
    const T* h = x;
    if (norm_first) {
        layer_norm_forward(x, n, c, ff.norm.weight, ff.norm.bias, ff.norm.eps, scratch);
        h = scratch;
    }
    linear_forward(h, n, c, ff.linear1_weight, f, ff.linear1_bias, hidden);  // (N, F)
    activation_forward(ff.activation, hidden, n * f, activated);
    drop(ff.dropout, activated, n * f, activated);
    linear_forward(activated, n, f, ff.linear2_weight, c, ff.linear2_bias, scratch);
    drop(ff.dropout_out, scratch, n * c, scratch);
    residual_forward(norm_first, n, c, x, scratch, ff.norm, sum, out);
}

template <class T>
void feed_forward_backward(bool norm_first, index_t n, index_t c, const FeedForward<T>& ff,
                           const T* x, const T* sum, const T* hidden, const T* activated,
                           const T* grad_out, const FeedForwardGrads<T>& g, T* dh, T* s1, T* s2,
                           T* s3, T* dx) {
    // Post-norm: out = norm(sum), sum = x + ff(x); pre-norm: out = x + ff(norm(x)).
    const index_t f = ff.f;
    const T* dff = residual_backward(norm_first, n, c, grad_out, sum, ff.norm, s1, g.norm_weight,
                                     g.norm_bias);  // the block's output's, then its product's
    if (ff.dropout_out.p > 0) {
        drop(ff.dropout_out, dff, n * c, s3);
        dff = s3;
    }
    linear_backward(dff, activated, ff.linear2_weight, n, f, c, dh, g.linear2_weight,
                    g.linear2_bias);
    drop(ff.dropout, dh, n * f, dh);
    activation_backward(ff.activation, dh, hidden, n * f, dh);
    const T* h = x;
    if (norm_first) {
        layer_norm_forward(x, n, c, ff.norm.weight, ff.norm.bias, ff.norm.eps, s2);
        h = s2;
    }
    T* dhx = norm_first ? s1 : s2;  // the gradient of linear1's input
    linear_backward(dh, h, ff.linear1_weight, n, c, f, dhx, g.linear1_weight, g.linear1_bias);
    if (norm_first) {
        layer_norm_backward(dhx, x, n, c, ff.norm.weight, ff.norm.eps, dx, g.norm_weight,
                            g.norm_bias);
        add(dx, grad_out, n * c, dx);
    } else {
        add(s1, dhx, n * c, dx);
    }
}

#define ATTNLAB_INSTANTIATE(T)                                                                     \
    template void add<T>(const T*, const T*, index_t, T*);                                         \
    template void drop<T>(const DropoutOption&, const T*, index_t, T*);                            \
    template void merge_heads<T>(const Sizes&, const T*, T*);                                      \
    template void heads_to_rows<T>(const T*, index_t, index_t, index_t, index_t, T*, index_t);     \
    template void rows_to_heads<T>(const T*, index_t, index_t, index_t, index_t, index_t, T*);     \
    template AttentionInputs<T> attention_inputs<T>(const EncoderLayerAttention<T>&, const T*,     \
                                                    const T*, const T*);                           \
    template void packed_heads<T>(const Sizes&, bool, const RopeOptions&,                          \
                                  const EncoderLayerAttention<T>&, const T*, T*, T*, T*, T*);      \
    template void rotate_back<T>(const Sizes&, const RopeOptions&, T*, T*);                        \
    template void attention_output_forward<T>(const Sizes&, const T*, const T*, const T*,          \
                                              const DropoutOption&, T*, T*);                       \
    template void attention_output_backward<T>(const Sizes&, const T*, const DropoutOption&,       \
                                               const T*, const T*, T*, T*, T*, T*, T*);            \
    template void residual_forward<T>(bool, index_t, index_t, const T*, const T*, const Norm<T>&,  \
                                      T*, T*);                                                     \
    template const T* residual_backward<T>(bool, index_t, index_t, const T*, const T*,             \
                                           const Norm<T>&, T*, T*, T*);                            \
    template void self_attention_forward<T>(const Sizes&, bool, const SelfAttention<T>&,           \
                                            const EncoderLayerAttention<T>&, const T*, T*,         \
                                            const AttentionActivations<T>&, T*, T*);               \
    template void self_attention_backward<T>(                                                      \
        const Sizes&, bool, const SelfAttention<T>&, const EncoderLayerAttention<T>&, const T*,    \
        const AttentionActivations<T>&, const T*, const SelfAttentionGrads<T>&, T*, T*, T*, T*,    \
        T*, T*, T*, T*);                                                                           \
    template void feed_forward_forward<T>(bool, index_t, index_t, const FeedForward<T>&, const T*, \
                                          T*, T*, T*, T*, T*);                                     \
    template void feed_forward_backward<T>(bool, index_t, index_t, const FeedForward<T>&,          \
                                           const T*, const T*, const T*, const T*, const T*,       \
                                           const FeedForwardGrads<T>&, T*, T*, T*, T*, T*);
ATTNLAB_INSTANTIATE(float)
ATTNLAB_INSTANTIATE(double)
#undef ATTNLAB_INSTANTIATE

}  // namespace attnlab::layers
