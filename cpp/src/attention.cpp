// Drives one attention call: packs K and V (and, for the backward, Q and grad_out when the
// head dim needs padding) into the layouts the tile kernels stream through, then runs the
// tiles on the thread pool.
#include <algorithm>
#include <cstdint>
#include <cstring>
#include <functional>
#include <optional>
#include <type_traits>

#include "attention_plan.hpp"
#include "kernel_table.hpp"
#include "threads.hpp"
#include "workspace.hpp"

namespace attnlab {
namespace {

using workspace::Buffer;

template <class T>
AttentionPlan<T> make_plan(const AttentionShape& shape, const AttentionInputs<T>& in,
                           const AttentionOptions& opt) {
    AttentionPlan<T> p;
    p.kernels = &active_kernels().attention<T>();
    p.shape = shape;
    p.opt = opt;
    // A window side past every key changes nothing; bounded so that the kernels' a - left and
    // a + right + 1 (a = a row's aligned position) cannot overflow.
    const index_t past_every_key = shape.lq + shape.lk + 1;
    for (index_t* side : {&p.opt.window_left, &p.opt.window_right})
        if (*side != kUnbounded) *side = std::clamp<index_t>(*side, 0, past_every_key);
    p.in = in;
    p.group = shape.kv_heads > 0 ? shape.heads / shape.kv_heads : 1;
    p.q_blocks = blocks(shape.lq, kQueryBlock);
    p.k_blocks = blocks(shape.lk, kKeyBlock);
    p.dim_pad = round_up(shape.dim, kPad);
    p.dim_v_pad = round_up(shape.dim_v, kPad);
    return p;
}

// Copies rows (n, dim) into rows of width dim_pad.
template <class T>
void pack_rows(const T* src, index_t n, index_t dim, index_t dim_pad, T* dst) {
    for (index_t j = 0; j < n; ++j)
        std::copy(src + j * dim, src + (j + 1) * dim, dst + j * dim_pad);
}

template <class T>
bool all_finite(const T* x, index_t n) {
    // Exponent bits all ones = inf or NaN; an integer OR reduction vectorizes at any flags.
    using Bits = std::conditional_t<sizeof(T) == 4, std::uint32_t, std::uint64_t>;
    constexpr Bits exponent = sizeof(T) == 4 ? Bits(0x7f800000u) : Bits(0x7ff0000000000000ull);
    Bits bad = 0;
    for (index_t i = 0; i < n; ++i) {
        Bits b;
        std::memcpy(&b, x + i, sizeof(T));
        bad |= Bits((b & exponent) == exponent);
    }
    return bad == 0;
}

// K^T of (batch, kv head) bh times scale * log2 e (base-2 scores), in key blocks.
template <class T>
void pack_keys(const AttentionPlan<T>& p, index_t bh, T* kt) {
    const AttentionShape& s = p.shape;
    p.kernels->to_key_blocks(p.in.k + bh * s.lk * s.dim, s.lk, s.dim,
                             static_cast<T>(p.opt.scale * kLog2e), kt);
}

// The forward's operands of one (batch, kv head) bh: K^T times scale * log2 e into kt, V rows into
// vp when the head dim needs padding (vp null: the caller's V rows serve), and which key blocks
// of V hold only finite values. Returns the forward's view of them.
template <class T>
HeadKv<T> pack_head_kv(const AttentionPlan<T>& p, index_t bh, T* kt, T* vp,
                       std::uint8_t* v_finite) {
    const AttentionShape& s = p.shape;
    const T* v = p.in.v + bh * s.lk * s.dim_v;
    pack_keys(p, bh, kt);
    if (vp) pack_rows(v, s.lk, s.dim_v, p.dim_v_pad, vp);
    for (index_t blk = 0; blk < p.k_blocks; ++blk) {
        index_t j0 = blk * kKeyBlock, n = std::min(kKeyBlock, s.lk - j0);
        v_finite[blk] = all_finite(v + j0 * s.dim_v, n * s.dim_v);
    }
    return {kt, vp ? vp : v, v_finite};
}

// What the backward reads of (batch, kv head) bh besides its packed K^T kt: V^T into vt, K rows
// into kp when the head dim needs padding (kp null: the caller's K rows serve), and which key
// blocks of K hold only finite values. Returns the backward's view of them and kt.
template <class T>
HeadKvGrad<T> pack_head_kv_grad(const AttentionPlan<T>& p, index_t bh, const T* kt, T* vt, T* kp,
                                std::uint8_t* k_finite) {
    const AttentionShape& s = p.shape;
    const T* k = p.in.k + bh * s.lk * s.dim;
    for (index_t blk = 0; blk < p.k_blocks; ++blk) {
        index_t j0 = blk * kKeyBlock, n = std::min(kKeyBlock, s.lk - j0);
        k_finite[blk] = all_finite(k + j0 * s.dim, n * s.dim);
    }
    p.kernels->to_key_blocks(p.in.v + bh * s.lk * s.dim_v, s.lk, s.dim_v, T(1), vt);
    if (kp) pack_rows(k, s.lk, s.dim, p.dim_pad, kp);
    return {kt, vt, kp ? kp : k, k_finite};
}

// Packs every (batch, kv head) in parallel: the forward's operands, plus the backward's.
template <class T>
struct KvPack {
    Buffer<T> kt, vp, vt, kp;
    Buffer<std::uint8_t> v_finite, k_finite;
    // K and V rows are copied only when the head dim needs padding.
    KvPack(AttentionPlan<T>& p, bool backward)
        : KvPack(p, backward, p.dim_pad != p.shape.dim, p.dim_v_pad != p.shape.dim_v) {}

    KvPack(AttentionPlan<T>& p, bool backward, bool pad_k, bool pad_v)
        : kt(p.shape.batch * p.shape.kv_heads * p.kt_stride(), false),  // written in full
          vp(pad_v ? p.shape.batch * p.shape.kv_heads * p.vp_stride() : 0),
          vt(backward ? p.shape.batch * p.shape.kv_heads * p.vt_stride() : 0, false),
          kp(backward && pad_k ? p.shape.batch * p.shape.kv_heads * p.kp_stride() : 0),
          v_finite(p.shape.batch * p.shape.kv_heads * p.k_blocks),
          k_finite(p.shape.batch * p.shape.kv_heads * p.k_blocks) {
        const AttentionShape& s = p.shape;
        threads::parallel_for(s.batch * s.kv_heads, [&](index_t bh, int) {
            pack_head_kv(p, bh, kt.get() + bh * p.kt_stride(),
                         pad_v ? vp.get() + bh * p.vp_stride() : nullptr,
                         v_finite.get() + bh * p.k_blocks);
            if (backward)
                pack_head_kv_grad(p, bh, kt.get() + bh * p.kt_stride(),
                                  vt.get() + bh * p.vt_stride(),
                                  pad_k ? kp.get() + bh * p.kp_stride() : nullptr,
                                  k_finite.get() + bh * p.k_blocks);
        });
        p.kt = kt.get();
        p.vp = pad_v ? vp.get() : p.in.v;
        p.vt = vt.get();
        p.kp = pad_k ? kp.get() : p.in.k;
        p.v_finite = v_finite.get();
        p.k_finite = k_finite.get();
    }
};

// One scratch area per worker thread, and as many finiteness flags per worker: sized by
// reserve(workers) from the parallel_for that uses it (the count of that job, not of the pool
// now, which another thread may resize).
template <class T>
class Scratch {
public:
    // extra: elements past the tile scratch, at p.tile_scratch().
    explicit Scratch(const AttentionPlan<T>& p, index_t extra = 0, index_t flags = 0)
        : per_worker_(round_up(p.tile_scratch() + extra, kPad)), flags_per_worker_(flags) {}

    // Room for workers [0, workers); kernels write scratch before they read it.
    void reserve(int workers) {
        if (workers <= workers_) return;
        data_ = Buffer<T>(per_worker_ * workers, false);
        flags_ = Buffer<std::uint8_t>(flags_per_worker_ * workers, false);
        workers_ = workers;
    }
    // What parallel_for's prepare calls.
    std::function<void(int)> reserver() {
        return [this](int workers) { reserve(workers); };
    }
    T* for_worker(int w) const { return data_.get() + w * per_worker_; }
    std::uint8_t* flags_for_worker(int w) const { return flags_.get() + w * flags_per_worker_; }

private:
    index_t per_worker_, flags_per_worker_;
    int workers_ = 0;
    Buffer<T> data_{0, false};
    Buffer<std::uint8_t> flags_{0, false};
};

// Whether one task per (batch, kv head) spreads evenly over the workers.
bool per_head_tasks(index_t heads) {
    const index_t workers = get_num_threads();
    return heads % workers == 0 || heads >= 4 * workers;
}

template <class T>
void run_forward(AttentionPlan<T>& p, T* out, SoftmaxStats<T> stats, T* weights) {
    const AttentionShape& s = p.shape;
    const auto& kernels = *p.kernels;
    p.out = out;
    p.stats = stats;
    p.weights = weights;
    const index_t kv_total = s.batch * s.kv_heads;
    if (p.kt || !per_head_tasks(kv_total)) {
        // One task per (batch, head, query block), on K and V packed once for all (by the
        // backward already when it recomputes the forward).
        std::optional<KvPack<T>> pack;
        if (!p.kt) pack.emplace(p, false);
        Scratch<T> scratch(p);
        threads::parallel_for(s.batch * s.heads * p.q_blocks, scratch.reserver(),
                              [&](index_t task, int worker) {
                                  index_t qb = task % p.q_blocks, bh = task / p.q_blocks;
                                  index_t b = bh / s.heads, h = bh % s.heads;
                                  kernels.forward(p, p.head_kv(b, p.kv_head(h)), b, h, qb,
                                                  scratch.for_worker(worker));
                              });
        return;
    }
    // One task per (batch, kv head), which packs its K and V into the worker's scratch, where
    // they stay in cache for every query block of the kv group, instead of a pass that packs
    // all heads first (a (32, 4, 128, 32) forward: 0-4% faster in interleaved rounds).
    const bool pad_v = p.dim_v_pad != s.dim_v;
    Scratch<T> scratch(p, p.kt_stride() + (pad_v ? p.vp_stride() : 0), p.k_blocks);
    threads::parallel_for(kv_total, scratch.reserver(), [&](index_t bh, int worker) {
        T* tile = scratch.for_worker(worker);
        T* kt = tile + p.tile_scratch();
        T* vp = pad_v ? kt + p.kt_stride() : nullptr;
        std::uint8_t* finite = scratch.flags_for_worker(worker);
        const HeadKv<T> kv = pack_head_kv(p, bh, kt, vp, finite);
        const index_t b = bh / s.kv_heads, hk = bh % s.kv_heads;
        for (index_t h = hk * p.group; h < (hk + 1) * p.group; ++h)
            for (index_t qb = 0; qb < p.q_blocks; ++qb) kernels.forward(p, kv, b, h, qb, tile);
    });
}

// Bytes of score gradients the backward keeps between its dK/dV and dQ passes. Small enough
// that reusing it phase after phase costs few fresh pages (page faults were a fifth of the
// backward with 64 MiB), big enough for several heads at L = 1024.
constexpr index_t kDsBudget = index_t(16) << 20;

bool empty(const AttentionShape& s) { return s.batch == 0 || s.heads == 0 || s.lq == 0; }

}  // namespace

template <class T>
void attention_forward(const AttentionShape& shape, const AttentionInputs<T>& in,
                       const AttentionOptions& opt, T* out, T* weights, SoftmaxStats<T> stats) {
    if (empty(shape)) return;
    // Dv = 0 and nothing asked but the (empty) output: no score needs computing, however many.
    if (shape.dim_v == 0 && !weights && !(stats.row_max_base2 && stats.row_inv)) return;
    AttentionPlan<T> p = make_plan(shape, in, opt);
    const bool keep = stats.row_max_base2 && stats.row_inv;
    const index_t rows = keep ? 0 : shape.batch * shape.heads * shape.lq;
    Buffer<T> row_max_base2(rows, false), row_inv(rows, false);  // the forward writes every row
    run_forward(p, out, keep ? stats : SoftmaxStats<T>{row_max_base2.get(), row_inv.get()},
                weights);
}

template <class T>
void attention_backward(const AttentionShape& shape, const AttentionInputs<T>& in,
                        const AttentionOptions& opt, const T* grad_out, T* dq, T* dk, T* dv,
                        T* dscores, const T* saved_out, SoftmaxStats<const T> saved_stats) {
    const AttentionShape& s = shape;
    if (s.batch == 0 || s.kv_heads == 0) return;
    if (s.lq == 0 || s.heads == 0) {  // nothing attends: every gradient is zero
        std::fill(dk, dk + s.batch * s.kv_heads * s.lk * s.dim, T(0));
        std::fill(dv, dv + s.batch * s.kv_heads * s.lk * s.dim_v, T(0));
        return;
    }
    if (s.dim_v == 0) {  // grad_out is empty, so dP = dO V^T = 0, and with it dS, dQ and dK
        std::fill(dq, dq + s.batch * s.heads * s.lq * s.dim, T(0));
        std::fill(dk, dk + s.batch * s.kv_heads * s.lk * s.dim, T(0));
        if (dscores) std::fill(dscores, dscores + s.batch * s.heads * s.lq * s.lk, T(0));
        return;
    }
    AttentionPlan<T> p = make_plan(shape, in, opt);
    const index_t rows = s.batch * s.heads * s.lq;

    // One task per (batch, kv head) when those spread evenly over the workers; each packs its
    // own K and V (as the forward's do). Else K and V are packed for all heads up front.
    const index_t kv_total = s.batch * s.kv_heads;
    const bool per_head = per_head_tasks(kv_total);
    std::optional<KvPack<T>> pack;
    if (!per_head) pack.emplace(p, true);

    // The softmax statistics and the output (delta = rowsum(grad_out * out)): the caller's from
    // its forward, else the forward again (two of the nine passes over the scores).
    const bool saved = saved_out && saved_stats.row_max_base2 && saved_stats.row_inv;
    const index_t recomputed = saved ? 0 : rows;
    // Written in full by the forward and the delta reduction: no zero fill.
    Buffer<T> out_buffer(recomputed * s.dim_v, false), max_buffer(recomputed, false);
    Buffer<T> inv_buffer(recomputed, false), delta(rows, false);
    if (!saved) run_forward<T>(p, out_buffer.get(), {max_buffer.get(), inv_buffer.get()}, nullptr);
    const T* out = saved ? saved_out : out_buffer.get();
    const bool pad_q = p.dim_pad != s.dim, pad_g = p.dim_v_pad != s.dim_v;
    Buffer<T> qp(pad_q ? rows * p.dim_pad : 0), gp(pad_g ? rows * p.dim_v_pad : 0);
    Buffer<std::uint8_t> q_finite(s.batch * s.heads * p.q_blocks);
    Buffer<std::uint8_t> g_finite(s.batch * s.heads * p.q_blocks);
    threads::parallel_for(s.batch * s.heads, [&](index_t bh, int) {
        index_t r0 = bh * s.lq;
        if (pad_q) pack_rows(in.q + r0 * s.dim, s.lq, s.dim, p.dim_pad, qp.get() + r0 * p.dim_pad);
        if (pad_g)
            pack_rows(grad_out + r0 * s.dim_v, s.lq, s.dim_v, p.dim_v_pad,
                      gp.get() + r0 * p.dim_v_pad);
        for (index_t qb = 0; qb < p.q_blocks; ++qb) {
            index_t i0 = r0 + qb * kQueryBlock, n = std::min(kQueryBlock, s.lq - qb * kQueryBlock);
            q_finite.get()[bh * p.q_blocks + qb] = all_finite(in.q + i0 * s.dim, n * s.dim);
            g_finite.get()[bh * p.q_blocks + qb] = all_finite(grad_out + i0 * s.dim_v, n * s.dim_v);
        }
        p.kernels->row_dots(grad_out + r0 * s.dim_v, out + r0 * s.dim_v, s.lq, s.dim_v,
                            delta.get() + r0);
    });
    p.qp = pad_q ? qp.get() : in.q;
    p.gp = pad_g ? gp.get() : grad_out;
    p.q_finite = q_finite.get();
    p.g_finite = g_finite.get();
    p.grad_out = grad_out;
    p.saved = saved ? saved_stats : SoftmaxStats<const T>{max_buffer.get(), inv_buffer.get()};
    p.delta = delta.get();
    p.dq = dq;
    p.dk = dk;
    p.dv = dv;
    p.dscores = dscores;

    const auto& kernels = *p.kernels;
    // Per (batch, kv head), dQ is summed inside the task, so no dS is stored or read back, and
    // K and V are packed into the worker's scratch, where they stay in cache. Else (few heads,
    // long sequences) key blocks and query blocks in two passes; both give bitwise the same
    // gradients.
    if (per_head) {
        p.ds_store = dscores;
        const bool pad_k = p.dim_pad != s.dim;
        Scratch<T> scratch(
            p, p.dq_scratch() + p.kt_stride() + p.vt_stride() + (pad_k ? p.kp_stride() : 0),
            p.k_blocks);
        threads::parallel_for(kv_total, scratch.reserver(), [&](index_t bh, int worker) {
            T* tile = scratch.for_worker(worker);
            T* kt = tile + p.tile_scratch() + p.dq_scratch();
            T* vt = kt + p.kt_stride();
            T* kp = pad_k ? vt + p.vt_stride() : nullptr;
            std::uint8_t* finite = scratch.flags_for_worker(worker);
            pack_keys(p, bh, kt);
            const HeadKvGrad<T> kv = pack_head_kv_grad(p, bh, kt, vt, kp, finite);
            kernels.backward_head(p, kv, bh / s.kv_heads, bh % s.kv_heads, tile);
        });
        return;
    }

    // The dQ pass reuses the dS tiles of the dK/dV pass (saving two of its three products)
    // when they fit: in dscores when asked for, else in a buffer of at most kDsBudget bytes,
    // filled a group of kv heads at a time.
    index_t ds_per_kv;  // elements; an overflowing count is over budget too
    const bool ds_fits = !__builtin_mul_overflow(p.group * s.lq, s.lk, &ds_per_kv) &&
                         ds_per_kv > 0 && ds_per_kv <= kDsBudget / index_t(sizeof(T));
    index_t kv_per_phase = kv_total;
    Buffer<T> ds_buffer(0);
    if (dscores) {
        p.ds_store = dscores;
    } else if (ds_fits) {
        kv_per_phase =
            std::min(kv_total, kDsBudget / (ds_per_kv * static_cast<index_t>(sizeof(T))));
        ds_buffer = Buffer<T>(kv_per_phase * ds_per_kv, false);  // only read where written
        p.ds_store = ds_buffer.get();
    }

    Scratch<T> scratch(p);
    for (index_t g0 = 0; g0 < kv_total; g0 += kv_per_phase) {
        const index_t g1 = std::min(kv_total, g0 + kv_per_phase);
        if (p.ds_store && !dscores) p.ds_head0 = g0 * p.group;
        threads::parallel_for((g1 - g0) * p.k_blocks, scratch.reserver(),
                              [&](index_t task, int worker) {
                                  index_t kb = task % p.k_blocks, bh = g0 + task / p.k_blocks;
                                  kernels.backward_kv(p, bh / s.kv_heads, bh % s.kv_heads, kb,
                                                      scratch.for_worker(worker));
                              });
        const index_t h0 = g0 * p.group, h1 = g1 * p.group;
        threads::parallel_for(
            (h1 - h0) * p.q_blocks, scratch.reserver(), [&](index_t task, int worker) {
                index_t qb = task % p.q_blocks, bh = h0 + task / p.q_blocks;
                kernels.backward_q(p, bh / s.heads, bh % s.heads, qb, scratch.for_worker(worker));
            });
    }
}

template void attention_forward<float>(const AttentionShape&, const AttentionInputs<float>&,
                                       const AttentionOptions&, float*, float*,
                                       SoftmaxStats<float>);
template void attention_forward<double>(const AttentionShape&, const AttentionInputs<double>&,
                                        const AttentionOptions&, double*, double*,
                                        SoftmaxStats<double>);
template void attention_backward<float>(const AttentionShape&, const AttentionInputs<float>&,
                                        const AttentionOptions&, const float*, float*, float*,
                                        float*, float*, const float*, SoftmaxStats<const float>);
template void attention_backward<double>(const AttentionShape&, const AttentionInputs<double>&,
                                         const AttentionOptions&, const double*, double*, double*,
                                         double*, double*, const double*,
                                         SoftmaxStats<const double>);

}  // namespace attnlab
