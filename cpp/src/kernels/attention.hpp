// Fused scaled dot-product attention tiles, templated on the xsimd arch and the element type.
// Forward: one (batch, head, query block) per call, online softmax over key blocks, so no
// lq x lk matrix exists unless weights are asked for. Backward (FlashAttention-2 style, from the
// saved row max and 1 / row sum): either one task per (batch, kv head) that sums dQ itself, or
// dK/dV per (batch, kv head, key block) then dQ per (batch, head, query block), two passes so
// that no tile ever adds into another tile's rows. Both sum in the same order.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>

#include "attention_plan.hpp"
#include "kernels/exp.hpp"
#include "kernels/gemm.hpp"
#include "kernels/random.hpp"
#include "kernels/simd_compat.hpp"
#include "kernels/stream.hpp"
#include "kernels/transpose.hpp"

namespace attnlab::kernels::ATTNLAB_ARCH_NS {

// The keys row i may see, as [lo, hi) within [0, lk): causal and window, with the alignment.
struct KeyRange {
    index_t lo, hi;
};

inline KeyRange key_range(const AttentionShape& s, const AttentionOptions& o, index_t i) {
    index_t a = i + (o.bottom_right ? s.lk - s.lq : 0);
    index_t lo = 0, hi = s.lk;
    if (o.window_left != kUnbounded) lo = std::max(lo, a - o.window_left);
    if (o.causal) hi = std::min(hi, a + 1);
    if (o.window_right != kUnbounded) hi = std::min(hi, a + o.window_right + 1);
    return {lo, std::max(lo, hi)};
}

template <class A, class T>
struct Attention {
    using B = xsimd::batch<T, A>;
    static constexpr index_t W = static_cast<index_t>(B::size);
    static constexpr index_t BK = kKeyBlock;
    static constexpr T kNegInf = -std::numeric_limits<T>::infinity();
    static constexpr T kLog2e = static_cast<T>(attnlab::kLog2e);
    static_assert(BK % W == 0 && kPad % W == 0, "blocks must be whole SIMD batches");
    // A packed key block of K^T or V^T (to_key_blocks) as the micro-kernel reads it: its rows
    // kKeyLd apart, its strips key_strips(dim) apart (0: one row-major block).
    static constexpr index_t kKeyLd = key_strip<A, T>();
    static index_t key_strips(index_t dim) { return kKeyLd == BK ? 0 : dim * kKeyLd; }

    // acc[0:n] += sum_j coef[j * coef_stride] * rows[j][0:n] over j < count, skipping zero
    // coefficients so that NaN or inf in rows that carry no weight never reaches acc.
    // n is a multiple of W; rows have stride ld.
    static void accumulate_rows(T* acc, index_t n, const T* coef, index_t coef_stride,
                                const T* rows, index_t ld, index_t count) {
        index_t c = 0;
        for (; c + 4 * W <= n; c += 4 * W) {
            B a0 = B::load_unaligned(acc + c), a1 = B::load_unaligned(acc + c + W);
            B a2 = B::load_unaligned(acc + c + 2 * W), a3 = B::load_unaligned(acc + c + 3 * W);
            for (index_t j = 0; j < count; ++j) {
                T p = coef[j * coef_stride];
                if (p == T(0)) continue;
                const T* v = rows + j * ld + c;
                B u(p);
                a0 = xsimd::fma(u, B::load_unaligned(v), a0);
                a1 = xsimd::fma(u, B::load_unaligned(v + W), a1);
                a2 = xsimd::fma(u, B::load_unaligned(v + 2 * W), a2);
                a3 = xsimd::fma(u, B::load_unaligned(v + 3 * W), a3);
            }
            a0.store_unaligned(acc + c);
            a1.store_unaligned(acc + c + W);
            a2.store_unaligned(acc + c + 2 * W);
            a3.store_unaligned(acc + c + 3 * W);
        }
        for (; c < n; c += W) {
            B a0 = B::load_unaligned(acc + c);
            for (index_t j = 0; j < count; ++j) {
                T p = coef[j * coef_stride];
                if (p == T(0)) continue;
                a0 = xsimd::fma(B(p), B::load_unaligned(rows + j * ld + c), a0);
            }
            a0.store_unaligned(acc + c);
        }
    }

    static void scale_row(T* x, index_t n, T factor) {
        B f(factor);
        for (index_t c = 0; c < n; c += W) (B::load_unaligned(x + c) * f).store_unaligned(x + c);
    }

    static void fill(T* x, index_t n, T value) { std::fill(x, x + n, value); }

    // s[c] -= slope_h * |j0 + c - a_i| for c in [lo, hi): ALiBi's linear distance penalty, in
    // base 2 (the slope times log2 e).
    static void add_alibi(const AttentionPlan<T>& p, index_t h, index_t i, index_t j0, index_t lo,
                          index_t hi, T* s) {
        const T slope = p.in.alibi_slopes[h] * kLog2e;
        const T offset =
            static_cast<T>(j0 - i - (p.opt.bottom_right ? p.shape.lk - p.shape.lq : 0));
        alignas(64) T lane[W];
        for (index_t c = 0; c < W; ++c) lane[c] = static_cast<T>(c);
        const B iota = B::load_aligned(lane), neg_slope(-slope);
        index_t c = lo;
        for (; c + W <= hi; c += W) {
            B distance = xsimd::abs(iota + B(offset + static_cast<T>(c)));
            xsimd::fma(neg_slope, distance, B::load_unaligned(s + c)).store_unaligned(s + c);
        }
        for (; c < hi; ++c) s[c] -= slope * std::abs(offset + static_cast<T>(c));
    }

    // Whether every row of query rows [i0, i0 + rows) sees all of key block j0.. with no bias
    // or mask: its dot products are its final scores. Key ranges only move right as rows go
    // down, so the first and last rows decide.
    static bool plain_block(const AttentionPlan<T>& p, index_t i0, index_t rows, index_t j0) {
        if (p.in.bias.data || p.in.mask.data || p.in.alibi_slopes || j0 + BK > p.shape.lk)
            return false;
        return key_range(p.shape, p.opt, i0 + rows - 1).lo <= j0 &&
               key_range(p.shape, p.opt, i0).hi >= j0 + BK;
    }

    // The max of s[0:n], n a multiple of W.
    static T row_max(const T* s, index_t n = BK) {
        B m(kNegInf);
        for (index_t c = 0; c < n; c += W) m = xsimd::max(m, B::load_unaligned(s + c));
        return simd::reduce_max(m);
    }

    // bias * log2 e, the base-2 score term of a bias; a finite bias stays finite (a bias of
    // finfo.min, as additive masks use, would overflow to -inf and read as a mask: a row of
    // them must stay uniform), while +-inf and NaN pass unchanged.
    static B bias_base2(const B& bias) {
        const T big = std::numeric_limits<T>::max();
        const B scaled = bias * B(kLog2e);
        return xsimd::select(xsimd::abs(bias) <= B(big),
                             xsimd::min(xsimd::max(scaled, B(-big)), B(big)), scaled);
    }

    // Turns the dot products s[0:ce] of query row i against keys j0.. (already scaled and in
    // base 2: K^T is packed times scale * log2 e) into final scores: biased, and -inf wherever
    // the key may not be attended. ce, a multiple of W, reaches past every key of the block
    // that row i may see; the columns past it are neither finished nor read (in a short last
    // block, as every key of T = 32 in one block of BK, they were most of the work).
    static void finish_scores(const AttentionPlan<T>& p, index_t b, index_t h, index_t i,
                              index_t j0, index_t ce, T* s) {
        KeyRange range = key_range(p.shape, p.opt, i);
        index_t lo = std::clamp<index_t>(range.lo - j0, 0, ce);
        index_t hi = std::clamp<index_t>(range.hi - j0, lo, ce);
        if (lo == 0 && hi == ce && !p.in.bias.data && !p.in.mask.data && !p.in.alibi_slopes) return;
        if (p.in.bias.data) {
            const auto& bias = p.in.bias;
            const T* row =
                bias.data + b * bias.stride_b + h * bias.stride_h + i * bias.stride_q + j0;
            index_t c = lo;
            for (; c + W <= hi; c += W)
                (B::load_unaligned(s + c) + bias_base2(B::load_unaligned(row + c)))
                    .store_unaligned(s + c);
            if (c < hi) {  // the tail through one padded batch, for the same rounding
                alignas(64) T tail[W] = {};
                std::copy(row + c, row + hi, tail);
                bias_base2(B::load_aligned(tail)).store_aligned(tail);
                for (index_t t = 0; c < hi; ++c, ++t) s[c] += tail[t];
            }
        }
        if (p.in.alibi_slopes) add_alibi(p, h, i, j0, lo, hi, s);
        fill(s, lo, kNegInf);
        fill(s + hi, ce - hi, kNegInf);
        if (p.in.mask.data) {
            const auto& mask = p.in.mask;
            const std::uint8_t* row =
                mask.data + b * mask.stride_b + h * mask.stride_h + i * mask.stride_q + j0;
            for (index_t c = lo; c < hi; ++c)
                if (!row[c]) s[c] = kNegInf;
        }
    }

    // The key blocks a query block [i0, i1) can see at all, as [first, last).
    static KeyRange visible_blocks(const AttentionPlan<T>& p, index_t i0, index_t i1) {
        KeyRange a = key_range(p.shape, p.opt, i0);
        KeyRange z = key_range(p.shape, p.opt, i1 - 1);
        index_t lo = a.lo / BK, hi = std::min(blocks(z.hi, BK), p.k_blocks);
        if (z.hi <= a.lo || hi <= lo) return {0, 0};  // a window may start past the last key
        return {lo, hi};
    }

    // x[0:n] = 2^(x - shift) * factor, in place; x need not be padded.
    // shift is the row's (new_shift), so every argument is at most kShiftSlack.
    static void exp_scaled(T* x, index_t n, T shift, T factor) {
        using E = Exp<A, T>;
        B sh(shift), f(factor);
        index_t c = 0;
        for (; c + W <= n; c += W)
            (E::exp2_nonpositive(B::load_unaligned(x + c) - sh) * f).store_unaligned(x + c);
        if (c < n) {
            alignas(64) T tail[W] = {};
            std::copy(x + c, x + n, tail);
            (E::exp2_nonpositive(B::load_aligned(tail) - sh) * f).store_aligned(tail);
            std::copy(tail, tail + (n - c), x + c);
        }
    }

    // Probabilities of the first n columns of one finished score row of a block, in place;
    // zeros for an empty row.
    static void probabilities(T* s, index_t n, T row_max, T row_inv) {
        if (row_max == kNegInf) return fill(s, n, T(0));
        if (row_max != row_max) {  // a NaN row: NaN where a key is seen, still 0 where masked
            for (index_t c = 0; c < n; ++c)
                s[c] = s[c] == kNegInf ? T(0) : std::numeric_limits<T>::quiet_NaN();
            return;
        }
        exp_scaled(s, n, row_max, row_inv);
    }

    // A row's shift m (its running max) is raised only when a block's max exceeds it by more
    // than kShiftSlack (base 2): probabilities up to 2^kShiftSlack lose nothing in floating
    // point, and most blocks past a row's first then need neither a second exp pass nor a
    // rescaled output row (with the exact max, a quarter of the later blocks of a random
    // (4, 8, 1024, 64) raised it). The saved stats hold the shift used.
    static constexpr T kShiftSlack = T(8);

    // The shift of a row after a block whose max is mx (not -inf): mx when it exceeds the
    // shift m by more than the slack (always past m = -inf, a row's first block), else m.
    static T new_shift(T m, T mx) {
        return (m + kShiftSlack < mx || mx != mx) ? mx : m;  // NaN sticks: its row is NaN
    }

    // pr = 2^(s - m) for a row of a plain block, its sum added to lanes, on the guess that
    // no score exceeds the shift m by more than the slack. The lane maxima are those of
    // row_max, so when the guess holds (every lane at most m + kShiftSlack, not all -inf) the
    // result is bitwise that of exp_with_new_max; else only pr has changed, and false sends
    // the row there.
    static bool exp_under_max(const T* s, T m, T* lanes, T* pr) {
        B shift(m), sum = B::load_unaligned(lanes), seen(kNegInf);
        for (index_t c = 0; c < BK; c += W) {
            const B x = B::load_unaligned(s + c);
            seen = xsimd::max(seen, x);
            const B e = Exp<A, T>::exp2_nonpositive(x - shift);
            sum += e;
            e.store_unaligned(pr + c);
        }
        if (!xsimd::all(seen <= B(m + kShiftSlack)) || !xsimd::any(seen != B(kNegInf)))
            return false;
        sum.store_unaligned(lanes);
        return true;
    }

    // One row of a block, the general way: its final scores and their max, the shift m
    // raised to it where new_shift says so (the running sum in lanes and the output row o
    // rescaled), and pr[0:ce] = 2^(s - m). A plain block's row max may come as its lane maxima
    // (else null). Returns false when the row sees nothing in this block (pr = 0).
    static bool exp_with_new_max(const AttentionPlan<T>& p, index_t b, index_t h, index_t i,
                                 index_t j0, index_t n, index_t ce, bool plain, const T* lane_max,
                                 T* s, T& m, T* lanes, T* o, T* pr) {
        if (!plain) finish_scores(p, b, h, i, j0, ce, s);
        T mx = !plain     ? row_max(s, ce)
               : lane_max ? simd::reduce_max(B::load_unaligned(lane_max))
                          : row_max(s);
        // maxps drops NaN against a later -inf lane: look again before skipping.
        if (mx == kNegInf && std::any_of(s, s + std::min(n, ce), [](T x) { return x != x; }))
            mx = std::numeric_limits<T>::quiet_NaN();
        if (mx == kNegInf) {
            fill(pr, BK, T(0));
            return false;
        }
        const T m_new = new_shift(m, mx);
        // A row's first block has nothing to rescale: no scalar exp then (once per row was 2%
        // of a short forward).
        const T alpha = m == m_new ? T(1) : m == kNegInf ? T(0) : std::exp2(m - m_new);
        B shift(m_new), sum = B::load_unaligned(lanes) * B(alpha);
        for (index_t c = 0; c < ce; c += W) {  // P V reads no further
            const B e = Exp<A, T>::exp2_nonpositive(B::load_unaligned(s + c) - shift);
            sum += e;
            e.store_unaligned(pr + c);
        }
        sum.store_unaligned(lanes);
        if (alpha != T(1) && m != kNegInf) scale_row(o, p.dim_v_pad, alpha);
        m = m_new;
        return true;
    }

    // One (batch, head, query block): S = Q K^T and O += P V per visible key block with the
    // register-tiled products, online softmax in between. With weights, each block's
    // 2^(s - max so far) is kept in scratch rows E (in L2 for a query block); once the row
    // statistics are final, each row is rescaled there and streamed to the weights, written
    // once and never read back. No second Q K^T.
    static void forward(const AttentionPlan<T>& p, const HeadKv<T>& kv, index_t b, index_t h,
                        index_t qb, T* scratch) {
        using Gemm = MicroKernel<A, T>;
        const AttentionShape& sh = p.shape;
        const index_t i0 = qb * kQueryBlock, rows = std::min(kQueryBlock, sh.lq - i0);
        const index_t dvp = p.dim_v_pad;
        const index_t row0 = (b * sh.heads + h) * sh.lq + i0;
        const T* q = p.in.q + row0 * sh.dim;
        const T *kt = kv.kt, *vp = kv.vp;
        const std::uint8_t* v_finite = kv.v_finite;
        T* weights = p.weights ? p.weights + row0 * sh.lk : nullptr;
        const bool dropout = p.opt.dropout_p > 0;
        const T keep_scale = static_cast<T>(1.0 / (1.0 - p.opt.dropout_p));

        T* S = scratch;                       // (rows, BK): scores
        T* P = S + kQueryBlock * BK;          // (rows, BK): 2^(S - max)
        T* O = P + kQueryBlock * BK;          // (rows, dvp)
        T* m = O + kQueryBlock * dvp;         // running max
        T* l = m + kQueryBlock;               // running sum
        T* lanes = l + kQueryBlock;           // (rows, W): the running sum before its reduction
        T* shifts = lanes + kQueryBlock * W;  // (rows, k_blocks): the max each block used
        T* lane_max = shifts + kQueryBlock * p.k_blocks;  // (rows, W): row maxima of a block
        T* E = lane_max + kQueryBlock * W;                // (rows, lde) with weights
        const index_t lde = p.k_blocks * BK + kPad;       // rows 4 KiB apart would share L1 sets
        fill(O, rows * dvp, T(0));
        fill(m, rows, kNegInf);
        fill(lanes, rows * W, T(0));

        KeyRange kb = visible_blocks(p, i0, i0 + rows);
        // Keys past what the block's last row sees (the causal diagonal, a window's right edge)
        // are never computed: finish_scores sets those columns to -inf whatever they hold.
        const index_t last = key_range(sh, p.opt, i0 + rows - 1).hi;
        for (index_t blk = kb.lo; blk < kb.hi; ++blk) {
            const index_t j0 = blk * BK, n = std::min(BK, sh.lk - j0);
            const index_t cols = std::clamp<index_t>(last - j0, 0, n), ce = round_up(cols, W);
            // On the causal diagonal (or a window's right edge) later rows see more keys than
            // earlier ones: there each row tile computes only the columns its last row sees
            // (a twentieth of a causal (2, 8, 2048, 64) forward was columns seen by no row).
            const bool diagonal = key_range(sh, p.opt, i0).hi < j0 + cols;
            // f(i, tr, tc) for each register tile of rows [i, i + tr) that sees any column:
            // tc, the columns its last row sees.
            auto each_row_tile = [&](auto f) {
                for (index_t i = 0; i < rows; i += Gemm::MR) {
                    const index_t tr = std::min<index_t>(Gemm::MR, rows - i);
                    const index_t tc =
                        std::clamp<index_t>(key_range(sh, p.opt, i0 + i + tr - 1).hi - j0, 0, cols);
                    if (tc > 0) f(i, tr, tc);
                }
            };
            const bool plain = plain_block(p, i0, rows, j0);
            // A plain block that starts some row (its running max still -inf) has the product
            // fold each row's lane maxima into lane_max: that row's max then needs no pass
            // over its scores (the pass was 7% of a (32, 4, 128, 32) forward, the folding
            // costs about half of that).
            const bool starts_rows =
                plain && std::any_of(m, m + rows, [](T x) { return x == kNegInf; });
            if (starts_rows) fill(lane_max, rows * W, kNegInf);
            if (!diagonal) {
                Gemm::run(rows, ce, sh.dim, q, sh.dim, 1, kt + blk * sh.dim * BK, kKeyLd, S, BK,
                          false, starts_rows ? lane_max : nullptr, nullptr, key_strips(sh.dim));
            } else {
                each_row_tile([&](index_t i, index_t tr, index_t tc) {
                    Gemm::run(tr, round_up(tc, W), sh.dim, q + i * sh.dim, sh.dim, 1,
                              kt + blk * sh.dim * BK, kKeyLd, S + i * BK, BK, false, nullptr,
                              nullptr, key_strips(sh.dim));
                });
            }
            for (index_t r = 0; r < rows; ++r) {
                T* s = S + r * BK;
                T* pr = P + r * BK;
                const bool first = m[r] == kNegInf;
                // Past a row's first block, most blocks leave its max unchanged: guess so, and
                // the max needs no pass of its own.
                if (!(plain && !first && exp_under_max(s, m[r], lanes + r * W, pr)) &&
                    !exp_with_new_max(p, b, h, i0 + r, j0, n, ce, plain,
                                      plain && first ? lane_max + r * W : nullptr, s, m[r],
                                      lanes + r * W, O + r * dvp, pr)) {
                    if (weights) {  // nothing visible in this block
                        fill(E + r * lde + j0, n, T(0));
                        shifts[r * p.k_blocks + blk] = kNegInf;
                    }
                    continue;
                }
                if (weights) {  // 2^(s - m) now, rescaled to the final max at the end
                    T* w = E + r * lde + j0;
                    std::copy(pr, pr + std::min(ce, n), w);
                    fill(w + std::min(ce, n), n - std::min(ce, n), T(0));
                    shifts[r * p.k_blocks + blk] = m[r];
                }
                if (dropout) {
                    DropoutRow(p.opt.seed, p.opt.dropout_p, b, h, i0 + r)
                        .apply(pr, j0, cols, keep_scale, pr);
                }
            }
            if (v_finite[blk] && diagonal) {  // the probabilities past a tile's columns are 0
                each_row_tile([&](index_t i, index_t tr, index_t tc) {
                    Gemm::run(tr, dvp, tc, P + i * BK, BK, 1, vp + j0 * dvp, dvp, O + i * dvp, dvp,
                              true);
                });
            } else if (v_finite[blk]) {
                Gemm::run(rows, dvp, cols, P, BK, 1, vp + j0 * dvp, dvp, O, dvp, true);
            } else {
                for (index_t r = 0; r < rows; ++r)
                    accumulate_rows(O + r * dvp, dvp, P + r * BK, 1, vp + j0 * dvp, dvp, cols);
            }
        }

        T* out = p.out + row0 * sh.dim_v;
        for (index_t r = 0; r < rows; ++r) {
            l[r] = simd::reduce_add(B::load_unaligned(lanes + r * W));
            const bool seen = l[r] != T(0);  // true for NaN too
            T inv = seen ? T(1) / l[r] : T(0);
            for (index_t c = 0; c < sh.dim_v; ++c) out[r * sh.dim_v + c] = O[r * dvp + c] * inv;
            p.stats.row_max_base2[row0 + r] = seen ? m[r] : kNegInf;
            p.stats.row_inv[row0 + r] = inv;
            if (!weights) continue;
            T* e = E + r * lde;
            for (index_t blk = 0; blk < p.k_blocks; ++blk) {
                const index_t j0 = blk * BK, n = std::min(BK, sh.lk - j0);
                // Every weight is written here, so the caller's array need not be zeroed.
                if (!seen || blk < kb.lo || blk >= kb.hi) {
                    fill(e + j0, n, T(0));
                    continue;
                }
                // A block with nothing visible left zeros and a shift of -inf.
                const T shift = shifts[r * p.k_blocks + blk];
                scale_span(e + j0, n, shift == kNegInf ? T(0) : std::exp2(shift - m[r]) * inv);
            }
            Stream<A, T>::copy(e, sh.lk, weights + r * sh.lk);
        }
        if (weights) Stream<A, T>::fence();
    }

    // x[0:n] *= factor; x need not be padded.
    static void scale_span(T* x, index_t n, T factor) {
        B f(factor);
        index_t c = 0;
        for (; c + W <= n; c += W) (B::load_unaligned(x + c) * f).store_unaligned(x + c);
        for (; c < n; ++c) x[c] *= factor;
    }

    // Probabilities P and score gradients dS of one (query block, key block) tile, in place:
    // on return S holds P~ (P after dropout, what multiplied V) and G holds dS, in the block's
    // first n = min(BK, lk - j0) columns, all that their readers read. Columns from
    // round_up(n, W) on are not computed: a short last block (every key of T = 32 in one
    // block of BK) would be mostly padding.
    static void tile_gradients(const AttentionPlan<T>& p, const HeadKvGrad<T>& kv, index_t b,
                               index_t h, index_t i0, index_t rows, index_t blk, T* S, T* G) {
        const AttentionShape& sh = p.shape;
        const index_t j0 = blk * BK, ce = round_up(std::min(BK, sh.lk - j0), W);
        const T* q = p.in.q + ((b * sh.heads + h) * sh.lq + i0) * sh.dim;
        const T* go = p.grad_out + ((b * sh.heads + h) * sh.lq + i0) * sh.dim_v;
        const T* kt = kv.kt + blk * sh.dim * BK;
        const T* vt = kv.vt + blk * sh.dim_v * BK;
        const T* row_max = p.saved.row_max_base2 + (b * sh.heads + h) * sh.lq + i0;
        const T* row_inv = p.saved.row_inv + (b * sh.heads + h) * sh.lq + i0;
        const T* delta = p.delta + (b * sh.heads + h) * sh.lq + i0;
        const bool dropout = p.opt.dropout_p > 0;
        const T keep_scale = static_cast<T>(1.0 / (1.0 - p.opt.dropout_p));

        using Gemm = MicroKernel<A, T>;
        Gemm::run(rows, ce, sh.dim, q, sh.dim, 1, kt, kKeyLd, S, BK, false, nullptr, nullptr,
                  key_strips(sh.dim));
        Gemm::run(rows, ce, sh.dim_v, go, sh.dim_v, 1, vt, kKeyLd, G, BK, false, nullptr, nullptr,
                  key_strips(sh.dim_v));  // dP~ = dO V^T
        for (index_t r = 0; r < rows; ++r) {
            T* s = S + r * BK;
            T* g = G + r * BK;
            finish_scores(p, b, h, i0 + r, j0, ce, s);
            probabilities(s, ce, row_max[r], row_inv[r]);
            if (dropout) {
                const index_t n = std::min(BK, sh.lk - j0);
                alignas(64) T f[BK];
                DropoutRow(p.opt.seed, p.opt.dropout_p, b, h, i0 + r).factors(j0, n, keep_scale, f);
                for (index_t c = 0; c < n; ++c) {
                    g[c] = s[c] != T(0) ? s[c] * (g[c] * f[c] - delta[r]) : T(0);
                    s[c] *= f[c];
                }
                fill(s + n, BK - n, T(0));
                fill(g + n, BK - n, T(0));
            } else {
                B d(delta[r]), zero(T(0));
                for (index_t c = 0; c < ce; c += W) {
                    B pc = B::load_unaligned(s + c);
                    B ds = pc * (B::load_unaligned(g + c) - d);
                    xsimd::select(pc != zero, ds, zero).store_unaligned(g + c);
                }
            }
        }
    }

    // dQ += dS K for one tile: dS (rows, n) with row stride ld, K rows j0.. of q head h's kv
    // head. A block of K holding NaN or inf must not reach the queries that give it zero
    // weight, so such blocks skip zeros.
    static void add_dq(const AttentionPlan<T>& p, const HeadKvGrad<T>& kv, index_t blk, const T* ds,
                       index_t ld, index_t rows, T* dQ) {
        const AttentionShape& sh = p.shape;
        const index_t j0 = blk * BK, n = std::min(BK, sh.lk - j0), dp = p.dim_pad;
        const T* kp = kv.kp + j0 * dp;
        if (kv.k_finite[blk]) {
            MicroKernel<A, T>::run(rows, dp, n, ds, ld, 1, kp, dp, dQ, dp, true);
            return;
        }
        for (index_t r = 0; r < rows; ++r)
            accumulate_rows(dQ + r * dp, dp, ds + r * ld, 1, kp, dp, n);
    }

    // dK and dV of one key block, summed over every q head of its kv group and every query.
    // With dq_acc ((group, lq, dim_pad), zeroed), each tile's dS K is also added there while
    // the tile is in cache.
    static void backward_kv(const AttentionPlan<T>& p, index_t b, index_t hk, index_t blk,
                            T* scratch) {
        key_block_gradients(p, p.head_kv_grad(b, hk), b, hk, blk, scratch, nullptr);
    }

    static void key_block_gradients(const AttentionPlan<T>& p, const HeadKvGrad<T>& kv, index_t b,
                                    index_t hk, index_t blk, T* scratch, T* dq_acc) {
        const AttentionShape& sh = p.shape;
        const index_t j0 = blk * BK, n = std::min(BK, sh.lk - j0);
        const index_t dp = p.dim_pad, dvp = p.dim_v_pad;
        using Gemm = MicroKernel<A, T>;
        T* S = scratch;
        T* G = S + kQueryBlock * BK;
        T* dK = G + kQueryBlock * BK;  // (BK, dp)
        T* dV = dK + BK * dp;          // (BK, dvp)
        fill(dK, n * dp, T(0));        // the products write and the copy reads n rows
        fill(dV, n * dvp, T(0));
        for (index_t h = hk * p.group; h < (hk + 1) * p.group; ++h) {
            const T* qp = p.qp + (b * sh.heads + h) * sh.lq * dp;
            const T* gp = p.gp + (b * sh.heads + h) * sh.lq * dvp;
            for (index_t qb = 0; qb < p.q_blocks; ++qb) {
                const index_t i0 = qb * kQueryBlock, rows = std::min(kQueryBlock, sh.lq - i0);
                KeyRange kb = visible_blocks(p, i0, i0 + rows);
                if (blk < kb.lo || blk >= kb.hi) continue;
                tile_gradients(p, kv, b, h, i0, rows, blk, S, G);
                if (p.ds_store) {
                    T* ds =
                        p.ds_store + ((b * sh.heads + h - p.ds_head0) * sh.lq + i0) * sh.lk + j0;
                    for (index_t r = 0; r < rows; ++r)
                        std::copy(G + r * BK, G + r * BK + n, ds + r * sh.lk);
                }
                // dV += P~^T dO and dK += dS^T Q; a non-finite Q or dO row must still not
                // reach the keys it gives zero weight, so such blocks skip zeros.
                const std::uint8_t ok = p.q_finite[(b * sh.heads + h) * p.q_blocks + qb] &
                                        p.g_finite[(b * sh.heads + h) * p.q_blocks + qb];
                if (ok) {
                    Gemm::run(n, dvp, rows, S, 1, BK, gp + i0 * dvp, dvp, dV, dvp, true);
                    Gemm::run(n, dp, rows, G, 1, BK, qp + i0 * dp, dp, dK, dp, true);
                } else {
                    for (index_t c = 0; c < n; ++c) {
                        accumulate_rows(dV + c * dvp, dvp, S + c, BK, gp + i0 * dvp, dvp, rows);
                        accumulate_rows(dK + c * dp, dp, G + c, BK, qp + i0 * dp, dp, rows);
                    }
                }
                if (dq_acc)
                    add_dq(p, kv, blk, G, BK, rows,
                           dq_acc + ((h - hk * p.group) * sh.lq + i0) * dp);
            }
        }
        const T scale = static_cast<T>(p.opt.scale);
        T* dk = p.dk + ((b * sh.kv_heads + hk) * sh.lk + j0) * sh.dim;
        T* dv = p.dv + ((b * sh.kv_heads + hk) * sh.lk + j0) * sh.dim_v;
        for (index_t c = 0; c < n; ++c) {
            for (index_t d = 0; d < sh.dim; ++d) dk[c * sh.dim + d] = dK[c * dp + d] * scale;
            for (index_t d = 0; d < sh.dim_v; ++d) dv[c * sh.dim_v + d] = dV[c * dvp + d];
        }
    }

    // out[r] = a[r] . b[r] for rows of n: the backward's delta = rowsum(grad_out * out).
    static void row_dots(const T* a, const T* b, index_t rows, index_t n, T* out) {
        for (index_t r = 0; r < rows; ++r, a += n, b += n) {
            B acc(T(0));
            index_t c = 0;
            for (; c + W <= n; c += W)
                acc = xsimd::fma(B::load_unaligned(a + c), B::load_unaligned(b + c), acc);
            T dot = simd::reduce_add(acc);
            for (; c < n; ++c) dot += a[c] * b[c];
            out[r] = dot;
        }
    }

    // dq rows i0.. of head h from their accumulated dS K (row stride dim_pad).
    static void store_dq(const AttentionPlan<T>& p, index_t b, index_t h, index_t i0, index_t rows,
                         const T* dQ) {
        const AttentionShape& sh = p.shape;
        const T scale = static_cast<T>(p.opt.scale);
        T* dq = p.dq + ((b * sh.heads + h) * sh.lq + i0) * sh.dim;
        for (index_t r = 0; r < rows; ++r)
            for (index_t d = 0; d < sh.dim; ++d) dq[r * sh.dim + d] = dQ[r * p.dim_pad + d] * scale;
    }

    // dQ of one query block (and its rows of dscores when asked for).
    static void backward_q(const AttentionPlan<T>& p, index_t b, index_t h, index_t qb,
                           T* scratch) {
        const AttentionShape& sh = p.shape;
        const index_t i0 = qb * kQueryBlock, rows = std::min(kQueryBlock, sh.lq - i0);
        T* S = scratch;
        T* G = S + kQueryBlock * BK;
        T* dQ = G + kQueryBlock * BK;  // (rows, dim_pad)
        fill(dQ, rows * p.dim_pad, T(0));
        const HeadKvGrad<T> kv = p.head_kv_grad(b, p.kv_head(h));
        KeyRange kb = visible_blocks(p, i0, i0 + rows);
        for (index_t blk = kb.lo; blk < kb.hi; ++blk) {
            const index_t j0 = blk * BK, n = std::min(BK, sh.lk - j0);
            // dS of this tile: left by the dK/dV pass, or recomputed.
            const T* ds = G;
            index_t ld = BK;
            if (p.ds_store) {
                ds = p.ds_store + ((b * sh.heads + h - p.ds_head0) * sh.lq + i0) * sh.lk + j0;
                ld = sh.lk;
            } else {
                tile_gradients(p, kv, b, h, i0, rows, blk, S, G);
            }
            add_dq(p, kv, blk, ds, ld, rows, dQ);
            if (p.dscores && p.dscores != p.ds_store) {
                T* out = p.dscores + ((b * sh.heads + h) * sh.lq + i0) * sh.lk + j0;
                for (index_t r = 0; r < rows; ++r)
                    std::copy(ds + r * ld, ds + r * ld + n, out + r * sh.lk);
            }
        }
        store_dq(p, b, h, i0, rows, dQ);
    }

    // The whole backward of one (batch, kv head) in one task: key blocks in order, each tile's
    // dS feeding dV, dK and dQ at once, so no dS is stored and no second pass runs. Every sum
    // runs in the order of backward_kv then backward_q: the results are bitwise theirs.
    static void backward_head(const AttentionPlan<T>& p, const HeadKvGrad<T>& kv, index_t b,
                              index_t hk, T* scratch) {
        const AttentionShape& sh = p.shape;
        T* dq_acc = scratch + p.tile_scratch();
        fill(dq_acc, p.dq_scratch(), T(0));
        for (index_t blk = 0; blk < p.k_blocks; ++blk)
            key_block_gradients(p, kv, b, hk, blk, scratch, dq_acc);
        for (index_t h = hk * p.group; h < (hk + 1) * p.group; ++h)
            store_dq(p, b, h, 0, sh.lq, dq_acc + (h - hk * p.group) * sh.lq * p.dim_pad);
    }
};

}  // namespace attnlab::kernels::ATTNLAB_ARCH_NS
