// The encoder layer's forward: the core's own kernels (linear, layer norm, attention with its
// weights, activation, rope) in the order and layouts of the Python composition in
// nn/transformer_encoder.py, so that the two agree bitwise, over one workspace; the head
// splits and merges and the residual sums between them are the active arch's plumbing
// (layers/plumbing.cpp, xtensor).
#include "layers/encoder_layer.hpp"

#include <algorithm>
#include <cmath>
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

}  // namespace

template <class T>
void encoder_layer_forward(const EncoderLayerShape& s, const EncoderLayerWeights<T>& w,
                           const EncoderLayerOptions& opt, const EncoderLayerAttention<T>& at,
                           const T* x, T* out) {
    const index_t b = s.batch, l = s.length, c = s.d_model, f = s.dim_feedforward;
    const index_t heads = s.heads, kv_heads = s.kv_heads, d = heads > 0 ? c / heads : 0;
    const index_t n = b * l, e = c + 2 * kv_heads * d, lk = s.past + l;
    const auto gather = active_kernels().plumbing<T>().gather;
    // (b, kv head) bh's first key (or value) row of the past, and of the whole, keys.
    auto past_row = [&](index_t bh) { return bh * s.past * d; };
    auto all_row = [&](index_t bh) { return bh * lk * d; };
    if (at.keys && l == 0)  // nothing new: the cache's next state is its past
        threads::parallel_for(b * kv_heads, [&](index_t bh, int) {
            gather(at.past_keys + past_row(bh), 1, s.past, d, 0, d, at.keys + all_row(bh));
            gather(at.past_values + past_row(bh), 1, s.past, d, 0, d, at.values + all_row(bh));
        });
    if (n == 0 || c == 0) return;

    // The workspace, regions reused as their contents die: r1 the projections (qkv, then the
    // feed-forward hidden layer), r2 q then the merged heads (then x1, post-norm), r5 the
    // attention output then the residual sums, r6 norm1(x), new keys, out_proj's, norm2(x1)
    // and linear2's outputs; kbuf and vbuf all keys and values unless the caller keeps them.
    const bool own_kv = at.keys == nullptr;
    const index_t kv_size = b * kv_heads * lk * d;
    workspace::Buffer<T> ws(n * std::max(e, f) + 3 * n * c + (own_kv ? 2 * kv_size : 0), false);
    T* r1 = ws.get();
    T* r2 = r1 + n * std::max(e, f);
    T* r5 = r2 + n * c;
    T* r6 = r5 + n * c;
    T* keys = own_kv ? r6 + n * c : at.keys;
    T* values = own_kv ? keys + kv_size : at.values;

    const T* h = x;
    if (opt.norm_first) {
        layer_norm_forward(x, n, c, w.norm1_weight, w.norm1_bias, opt.norm1_eps, r6);
        h = r6;
    }
    linear_forward(h, n, c, w.in_proj_weight, e, w.in_proj_bias, r1);  // (B, L, E)

    // Heads: q (B, H, L, D) into r2; keys and values (B, Hkv, past + L, D) after the past's.
    // New keys to rotate go through r6 (free now), so that one rope call turns them all.
    const bool rotate_apart = opt.rotary && s.past > 0;
    const index_t kv = kv_heads * d;
    threads::parallel_for(b, [&](index_t i, int) {
        const T* row = r1 + i * l * e;
        gather(row, heads, l, d, d, e, r2 + i * heads * l * d);  // (H, L, D)
        for (index_t hk = 0; hk < kv_heads; ++hk) {
            const index_t bh = i * kv_heads + hk;
            if (s.past > 0) {
                gather(at.past_keys + past_row(bh), 1, s.past, d, 0, d, keys + all_row(bh));
                gather(at.past_values + past_row(bh), 1, s.past, d, 0, d, values + all_row(bh));
            }
            T* new_keys = rotate_apart ? r6 + bh * l * d : keys + all_row(bh) + s.past * d;
            gather(row + c + hk * d, 1, l, d, 0, e, new_keys);
            gather(row + c + kv + hk * d, 1, l, d, 0, e, values + all_row(bh) + s.past * d);
        }
    });
    if (opt.rotary) {
        std::vector<double> positions(static_cast<std::size_t>(l));
        for (index_t i = 0; i < l; ++i) positions[i] = static_cast<double>(s.past + i);
        rope_forward(r2, b * heads * l, d, positions.data(), l, opt.rope, false, r2);
        T* new_keys = rotate_apart ? r6 : keys;  // contiguous (B, Hkv, L, D) either way
        rope_forward(new_keys, b * kv_heads * l, d, positions.data(), l, opt.rope, false,
                     new_keys);
        if (rotate_apart)
            threads::parallel_for(b * kv_heads, [&](index_t bh, int) {
                gather(r6 + bh * l * d, 1, l, d, 0, d, keys + all_row(bh) + s.past * d);
            });
    }

    AttentionShape shape;
    shape.batch = b;
    shape.heads = heads;
    shape.kv_heads = kv_heads;
    shape.lq = l;
    shape.lk = lk;
    shape.dim = shape.dim_v = d;
    AttentionInputs<T> in;
    in.q = r2;
    in.k = keys;
    in.v = values;
    in.mask = at.mask;
    in.alibi_slopes = at.alibi_slopes;
    AttentionOptions ao;
    ao.scale = d > 0 ? 1.0 / std::sqrt(static_cast<double>(d)) : 1.0;
    ao.causal = opt.causal;
    ao.bottom_right = s.past > 0;
    attention_forward(shape, in, ao, r5, at.weights);  // (B, H, L, D)

    threads::parallel_for(b, [&](index_t i, int) {  // merged heads (B, L, C)
        gather(r5 + i * heads * l * d, l, heads, d, d, l * d, r2 + i * l * c);
    });
    linear_forward(r2, n, c, w.out_proj_weight, c, w.out_proj_bias, r6);

    // x1 = x + attn(norm1(x)) (pre-norm, in r5) or norm1(x + attn(x)) (post-norm, in r2); the
    // output is x1 alone in a layer without a feed-forward block.
    const bool last = f == 0;
    T* x1 = opt.norm_first ? (last ? out : r5) : r2;
    add(x, r6, n * c, opt.norm_first ? x1 : r5);
    if (!opt.norm_first)
        layer_norm_forward(r5, n, c, w.norm1_weight, w.norm1_bias, opt.norm1_eps,
                           last ? out : x1);
    if (last) return;

    const T* h2 = x1;
    if (opt.norm_first) {
        layer_norm_forward(x1, n, c, w.norm2_weight, w.norm2_bias, opt.norm2_eps, r6);
        h2 = r6;
    }
    linear_forward(h2, n, c, w.linear1_weight, f, w.linear1_bias, r1);  // (B, L, F)
    activation_forward(opt.activation, r1, n * f, r1);
    linear_forward(r1, n, f, w.linear2_weight, c, w.linear2_bias, r6);
    if (opt.norm_first) {
        add(x1, r6, n * c, out);
    } else {
        add(x1, r6, n * c, r5);
        layer_norm_forward(r5, n, c, w.norm2_weight, w.norm2_bias, opt.norm2_eps, out);
    }
}

template void encoder_layer_forward<float>(const EncoderLayerShape&,
                                           const EncoderLayerWeights<float>&,
                                           const EncoderLayerOptions&,
                                           const EncoderLayerAttention<float>&, const float*,
                                           float*);
template void encoder_layer_forward<double>(const EncoderLayerShape&,
                                            const EncoderLayerWeights<double>&,
                                            const EncoderLayerOptions&,
                                            const EncoderLayerAttention<double>&, const double*,
                                            double*);

}  // namespace attnlab::layers
