// What one attention call hands to the per-arch tile kernels: the caller's operands, the packed
// copies the kernels stream through, and where results go. No SIMD types.
#pragma once

#include "attnlab/api.hpp"

namespace attnlab {

// Keys are processed in blocks of kKeyBlock, queries in blocks of kQueryBlock; packed rows are
// padded to a multiple of kPad elements so that every SIMD width divides them.
constexpr index_t kKeyBlock = 128;
constexpr index_t kQueryBlock = 96;
constexpr index_t kPad = 16;

// The tiles keep scores in base 2, s log2 e: K^T is packed times scale * log2 e, and a bias or
// ALiBi term is added times log2 e, so the softmax's exp is 2^x, whose range reduction needs
// no split ln2 and no multiply (FlashAttention's trick).
constexpr double kLog2e = 1.44269504088896340736;

inline index_t round_up(index_t n, index_t m) { return (n + m - 1) / m * m; }
inline index_t blocks(index_t n, index_t m) { return (n + m - 1) / m; }

// What the forward tiles of one (batch, kv head) read: K^T in key blocks, V rows, and per key
// block whether all of V is finite. Packed once per call, or per task into worker scratch.
template <class T>
struct HeadKv {
    const T* kt;
    const T* vp;
    const std::uint8_t* v_finite;
};

// What the backward tiles of one (batch, kv head) read besides rows of Q and grad_out: K^T
// (times scale * log2 e) and V^T in key blocks, K rows, and per key block whether all of K is
// finite.
template <class T>
struct HeadKvGrad {
    const T* kt;
    const T* vt;
    const T* kp;
    const std::uint8_t* k_finite;
};

template <class T>
struct AttentionKernels;  // kernel_table.hpp

template <class T>
struct AttentionPlan {
    // The arch's kernels, taken once per call: its packing and its tiles must agree on the
    // layout (K and V strips differ per arch) even when another thread forces an arch meanwhile.
    const AttentionKernels<T>* kernels = nullptr;
    AttentionShape shape;
    AttentionOptions opt;
    AttentionInputs<T> in;
    index_t group = 1;  // q heads per kv head
    index_t q_blocks = 0, k_blocks = 0;
    index_t dim_pad = 0, dim_v_pad = 0;

    // Packed per (batch, kv head): kt = K^T times scale * log2 e as (k_blocks, dim, kKeyBlock) and
    // vt = V^T likewise (unscaled), zero padded; kp and vp = K and V rows (lk, dim[_v]_pad),
    // the caller's own arrays when the head dim needs no padding. No kernel reads a key row
    // past lk. Null, with the finiteness flags below, when each task packs its own head into
    // worker scratch and hands the kernel a HeadKv / HeadKvGrad of it.
    const T* kt = nullptr;
    const T* vt = nullptr;
    const T* kp = nullptr;
    const T* vp = nullptr;
    // Per (batch, kv head, key block): 1 when every V value of the block is finite, so that
    // P V may run as a plain product (0 * finite = 0); else zero weights must be skipped.
    const std::uint8_t* v_finite = nullptr;
    const std::uint8_t* k_finite = nullptr;
    // Per (batch, head, query block), backward only: Q and grad_out rows all finite.
    const std::uint8_t* q_finite = nullptr;
    const std::uint8_t* g_finite = nullptr;
    // Per (batch, head) for the backward: q rows (lq, dim_pad), grad_out rows (lq, dim_v_pad),
    // packed only when the head dim needs padding.
    const T* qp = nullptr;
    const T* gp = nullptr;
    const T* grad_out = nullptr;

    T* out = nullptr;      // (B, H, lq, dim_v)
    T* weights = nullptr;  // (B, H, lq, lk) or null
    // (B, H, lq), as in SoftmaxStats: the softmax of row i is 2^(s log2 e - row_max_base2[i]) *
    // row_inv[i]; row_max_base2 = -inf for an empty row. Kept apart rather than as a
    // log-sum-exp, which loses the sum when the max is huge (a bias of finfo.min). The forward
    // writes stats, the backward reads saved.
    SoftmaxStats<T> stats;
    SoftmaxStats<const T> saved;
    T* delta = nullptr;  // (B, H, lq): rowsum(grad_out * out)
    T* dq = nullptr;
    T* dk = nullptr;
    T* dv = nullptr;
    T* dscores = nullptr;  // (B, H, lq, lk) or null
    // Where the dK/dV pass leaves dS for the dQ pass, (heads, lq, lk) from flattened q head
    // ds_head0 on; null when it would not fit, and the dQ pass recomputes dS instead.
    T* ds_store = nullptr;
    index_t ds_head0 = 0;

    index_t kv_head(index_t h) const { return h / group; }
    HeadKv<T> head_kv(index_t b, index_t hk) const {
        const index_t bh = b * shape.kv_heads + hk;
        return {kt + bh * kt_stride(), vp + bh * vp_stride(), v_finite + bh * k_blocks};
    }
    HeadKvGrad<T> head_kv_grad(index_t b, index_t hk) const {
        const index_t bh = b * shape.kv_heads + hk;
        return {kt + bh * kt_stride(), vt + bh * vt_stride(), kp + bh * kp_stride(),
                k_finite + bh * k_blocks};
    }
    index_t kt_stride() const { return k_blocks * kKeyBlock * shape.dim; }
    index_t vt_stride() const { return k_blocks * kKeyBlock * shape.dim_v; }
    index_t kp_stride() const { return shape.lk * dim_pad; }
    index_t vp_stride() const { return shape.lk * dim_v_pad; }

    // Scratch one worker needs for one tile, in elements of T: two (query block x key block)
    // tiles (scores and probabilities in the forward, P and dS in the backward) and the rows
    // around them; with weights, also a query block's rows of unnormalized weights (the
    // forward's E).
    index_t tile_scratch() const {
        index_t tile = kQueryBlock * kKeyBlock;
        index_t rows = kQueryBlock * (dim_pad > dim_v_pad ? dim_pad : dim_v_pad);
        index_t keys = kKeyBlock * (dim_pad + dim_v_pad);
        index_t e = weights ? kQueryBlock * (k_blocks * kKeyBlock + kPad) : 0;
        return 2 * tile + rows + keys + 4 * kQueryBlock + 2 * kQueryBlock * kPad +
               kQueryBlock * k_blocks + kPad + e;
    }
    // What the per-head backward adds past the tile scratch: dQ of a kv group's q heads.
    index_t dq_scratch() const { return group * shape.lq * dim_pad; }
};

}  // namespace attnlab
