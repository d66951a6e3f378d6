// matmul: batched C[b] = A[b] B[b] over strided operands on the register-tiled GEMM
// (gemm_tiles.hpp). Tasks are (group of batches, output tile); each C element sums over k in
// order inside one task, so no result depends on the thread count.
#include <algorithm>
#include <optional>

#include "gemm_tiles.hpp"

namespace attnlab {

using namespace gemm;

namespace {

// Batches of one-tile products are grouped so that a task does about this many multiply-adds:
// small attention-head products then cost a few pool tasks, not one each.
constexpr index_t kTaskMultiplyAdds = index_t(1) << 16;
// A B with contiguous rows, padded width and at most this many elements is read in place: it
// stays in L1 whatever its row stride, so packing would only copy it.
constexpr index_t kInPlaceElements = 4096;
// Scratch up to this many elements lives on the caller's stack: tiny products pay no
// workspace call.
constexpr index_t kStackElements = 4096;

}  // namespace

template <class T>
void matmul(index_t batch, index_t m, index_t n, index_t k, Strided3<T> a, Strided3<T> b, T* c) {
    if (batch == 0 || m == 0 || n == 0) return;
    if (k == 0) {
        std::fill(c, c + batch * m * n, T(0));
        return;
    }
    // A broadcast B under A batches stacked row after row is one product of batch * m rows.
    if (batch > 1 && b.stride_batch == 0 && a.stride_batch == m * a.stride_row) {
        m *= batch;
        batch = 1;
    }
    const auto gemm = active_kernels().gemm<T>();
    const index_t n_pad = round_up(n, kPad), panels = blocks(n, kPanel);
    const index_t row_tiles = blocks(m, kRows), col_tiles = blocks(n_pad, kCols);
    const index_t tiles = row_tiles * col_tiles;
    const bool in_place = b.stride_col == 1 && n == n_pad && k * n <= kInPlaceElements;
    // B is packed once up front when several tasks read the same panels (the row tiles of one
    // product, or every batch of a broadcast B); else each task packs its own columns.
    const index_t b_batches = b.stride_batch == 0 ? 1 : batch;
    const bool prepack = !in_place && (row_tiles > 1 || b_batches < batch);
    const bool task_pack = !in_place && !prepack;
    const index_t group =
        tiles > 1 ? 1 : std::clamp<index_t>(kTaskMultiplyAdds / (m * n_pad * k), 1, batch);
    const index_t tasks = blocks(batch, group) * tiles;

    const index_t tile_elements = n == n_pad ? 0 : std::min(kRows, m) * std::min(kCols, n_pad);
    const index_t pack_elements = task_pack ? std::min(kCols / kPanel, panels) * k * kPanel : 0;
    const index_t per_worker = round_up(tile_elements + pack_elements, kPad);
    alignas(64) T stack[kStackElements];
    std::optional<workspace::Buffer<T>> heap;
    T* scratch = stack;
    // Sized by the job's own worker count, which another thread's set_num_threads cannot change.
    const auto reserve = [&](int workers) {
        if (per_worker * workers <= kStackElements) return;
        heap.emplace(per_worker * workers, false);
        scratch = heap->get();
    };

    std::optional<workspace::Buffer<T>> packed;
    if (prepack) {
        packed.emplace(b_batches * panels * k * kPanel, false);
        threads::parallel_for(b_batches * panels, [&](index_t t, int) {
            pack_panel(b.data + t / panels * b.stride_batch, k, n, b.stride_row, b.stride_col,
                       t % panels, gemm.strip, packed->get() + t * k * kPanel);
        });
    }

    auto task = [&](index_t t, int worker) {
        const index_t tile = t % tiles, first_batch = t / tiles * group;
        const index_t i0 = tile / col_tiles * kRows, j0 = tile % col_tiles * kCols;
        T* const tile_scratch = scratch + worker * per_worker;
        for (index_t i = first_batch; i < std::min(batch, first_batch + group); ++i) {
            const T* bi = b.data + i * b.stride_batch;
            Panels<T> panels_b = in_place_panels(bi, b.stride_row);
            if (prepack) {
                panels_b = packed_panels(
                    packed->get() + (b_batches == 1 ? 0 : i) * panels * k * kPanel, k, gemm.strip);
            } else if (task_pack) {
                const index_t p0 = j0 / kPanel, p1 = std::min(panels, p0 + kCols / kPanel);
                T* dst = tile_scratch + tile_elements;
                for (index_t p = p0; p < p1; ++p)
                    pack_panel(bi, k, n, b.stride_row, b.stride_col, p, gemm.strip,
                               dst + (p - p0) * k * kPanel);
                panels_b = packed_panels(dst, k, gemm.strip, p0);
            }
            product_tile(gemm, m, n, k, a.data + i * a.stride_batch, a.stride_row, a.stride_col,
                         panels_b, static_cast<const T*>(nullptr), c + i * m * n, i0, j0,
                         tile_scratch);
        }
    };
    if (tasks == 1) {
        reserve(1);
        task(0, 0);  // no pool dispatch, no std::function
    } else {
        threads::parallel_for(tasks, reserve, task);
    }
}

template void matmul<float>(index_t, index_t, index_t, index_t, Strided3<float>, Strided3<float>,
                            float*);
template void matmul<double>(index_t, index_t, index_t, index_t, Strided3<double>, Strided3<double>,
                             double*);

}  // namespace attnlab
