// Output tiles and packed B panels shared by the GEMM drivers (linear.cpp, matmul.cpp). Each
// C element sums over k in order inside one tile, so neither tiling, packing nor the thread
// count changes a result.
#pragma once

#include <algorithm>
#include <optional>

#include "attention_plan.hpp"
#include "kernel_table.hpp"
#include "threads.hpp"
#include "workspace.hpp"

namespace attnlab::gemm {

// Output tiles: kRows x kCols of C per task; kCols is a multiple of kPanel.
constexpr index_t kRows = 96;
constexpr index_t kCols = 256;

// A C too small for kMinTasks such tiles (a linear's weight gradient, out x in summed over
// every token) is cut in thinner row tiles, multiples of kRowStep (every arch's micro-kernel
// row count divides it), so that it still spreads over the pool instead of running as one task.
constexpr index_t kMinTasks = 8;
constexpr index_t kRowStep = 12;

inline index_t task_rows(index_t m, index_t col_tiles) {
    const index_t row_tiles = blocks(kMinTasks, col_tiles);
    return std::clamp(round_up(blocks(m, row_tiles), kRowStep), kRowStep, kRows);
}

// B operands are packed in column panels of kPanel: (panels, k, kPanel), so that the
// micro-kernel streams each panel's rows contiguously instead of kPanel-wide strips of rows n
// apart (which missed L1 on every k step). Inside a panel, columns are stored in strips of the
// kernel's width (GemmKernel::strip), each (k, strip) contiguous: one panel of the kernel
// then spans k whole cache lines in a row, where rows kPanel apart fell in a few L1 sets.
constexpr index_t kPanel = 64;

// Where the kernel reads B: the kPanel-wide panel holding column j starts at
// data + (j / kPanel - first) * panel_stride, its rows ld apart, its strips strip_stride
// apart (0: columns row-major). Packed panels have panel_stride k * kPanel, ld the strip width
// and strip_stride k * strip (first > 0 when only the panels from `first` on are packed); a B
// whose rows are read in place has panel_stride kPanel, ld its row stride and strip_stride 0.
template <class T>
struct Panels {
    const T* data;
    index_t panel_stride;
    index_t ld;
    index_t strip_stride = 0;
    index_t first = 0;
};

template <class T>
Panels<T> packed_panels(const T* data, index_t k, index_t strip, index_t first = 0) {
    return {data, k * kPanel, strip, k * strip, first};
}

template <class T>
Panels<T> in_place_panels(const T* data, index_t ld) {
    return {data, kPanel, ld};
}

// Panel t of the (k, n) matrix whose element (p, j) is src[p * stride_k + j * stride_n] (any
// signs): columns [t * kPanel, +kPanel) to dst (k * kPanel), in strips of `strip` columns
// (a divisor of kPanel and a multiple of kPad or dividing it). Columns past n up to the next
// multiple of kPad are zeroed (the kernel reads them; garbage there could be slow denormals);
// the rest of a last, narrow panel is never read.
template <class T>
void pack_panel(const T* src, index_t k, index_t n, index_t stride_k, index_t stride_n, index_t t,
                index_t strip, T* dst) {
    const index_t j0 = t * kPanel, width = std::min(kPanel, n - j0);
    const index_t padded = std::min(kPanel, round_up(width, kPad));
    auto at = [&](index_t p, index_t j) {
        return dst + j / strip * k * strip + p * strip + j % strip;
    };
    for (index_t j = width; j < padded; ++j)
        for (index_t p = 0; p < k; ++p) *at(p, j) = T(0);
    if (stride_n == 1) {
        for (index_t s = 0; s < width; s += strip) {
            const index_t w = std::min(strip, width - s);
            for (index_t p = 0; p < k; ++p)
                std::copy(src + p * stride_k + j0 + s, src + p * stride_k + j0 + s + w, at(p, s));
        }
        return;
    }
    for (index_t j = 0; j < width; ++j) {  // a transposed source: read its rows in order
        T* column = at(0, j);
        for (index_t p = 0; p < k; ++p) column[p * strip] = src[p * stride_k + (j0 + j) * stride_n];
    }
}

// Every panel of that matrix, packed on the pool.
template <class T>
workspace::Buffer<T> pack_panels(const T* src, index_t k, index_t n, index_t stride_k,
                                 index_t stride_n, index_t strip) {
    const index_t panels = blocks(n, kPanel);
    workspace::Buffer<T> dst(panels * k * kPanel, false);
    threads::parallel_for(panels, [&](index_t t, int) {
        pack_panel(src, k, n, stride_k, stride_n, t, strip, dst.get() + t * k * kPanel);
    });
    return dst;
}

// A B operand (k, n) of a product with m rows, its rows contiguous and ld apart, as panels:
// read in place when the kernel can (n in whole kPad columns) and either it is one panel
// already (a linear's weight or input at 64 features) or m is at most one row tile (a weight
// gradient: B is the input over every token, so packing it would be a pass as long as the
// product's own reads of it); else packed into `buffer`, so that the many row tiles of a tall
// product stream each panel contiguously.
template <class T>
Panels<T> row_panels(const T* src, index_t m, index_t k, index_t n, index_t ld, index_t strip,
                     std::optional<workspace::Buffer<T>>& buffer) {
    if (n % kPad == 0 && (n <= kPanel || m <= kRows)) return in_place_panels(src, ld);
    buffer.emplace(pack_panels(src, k, n, ld, 1, strip));
    return packed_panels(buffer->get(), k, strip);
}

// The tile of C (m, n) (rows n apart) at rows [i0, +tile_rows), columns [j0, +kCols) (j0 a
// multiple of kCols; tile_rows <= kRows): C = A B (+ bias[col]: every sum starts from it), A's
// element (r, p) at a[r * lda + p * ldp]. The kernel writes whole padded columns (and reads
// bias there: round_up(n, kPad) values), so the tile goes straight into C only when n is a
// multiple of kPad, else through scratch (at least min(tile_rows, m) x min(kCols,
// round_up(n, kPad))).
template <class T>
void product_tile(GemmKernel<T> gemm, index_t m, index_t n, index_t k, const T* a, index_t lda,
                  index_t ldp, Panels<T> b, const T* bias, T* c, index_t i0, index_t j0, T* scratch,
                  index_t tile_rows = kRows) {
    const index_t n_pad = round_up(n, kPad);
    const index_t rows = std::min(tile_rows, m - i0), cols = std::min(kCols, n_pad - j0);
    const bool direct = n == n_pad;
    T* tile = direct ? c + i0 * n + j0 : scratch;
    const index_t ld = direct ? n : cols;
    for (index_t j = 0; j < cols; j += kPanel)
        gemm.run(rows, std::min(kPanel, cols - j), k, a + i0 * lda, lda, ldp,
                 b.data + ((j0 + j) / kPanel - b.first) * b.panel_stride, b.ld, b.strip_stride,
                 tile + j, ld, false, bias ? bias + j0 + j : nullptr);
    if (direct) return;
    const index_t used = std::min(cols, n - j0);
    for (index_t i = 0; i < rows; ++i)
        std::copy(tile + i * ld, tile + i * ld + used, c + (i0 + i) * n + j0);
}

// C (m, n) = A B (+ bias) with B in panels, every tile a pool task.
template <class T>
void tiled_product(GemmKernel<T> gemm, index_t m, index_t n, index_t k, const T* a, index_t lda,
                   index_t ldp, Panels<T> b, const T* bias, T* c) {
    const index_t col_tiles = blocks(round_up(n, kPad), kCols);
    const index_t tile_rows = task_rows(m, col_tiles), row_tiles = blocks(m, tile_rows);
    const bool direct = n % kPad == 0;
    std::optional<workspace::Buffer<T>> padded_bias;  // the kernel reads round_up(n, kPad)
    if (bias && !direct) {
        padded_bias.emplace(round_up(n, kPad));  // zeroed
        std::copy(bias, bias + n, padded_bias->get());
        bias = padded_bias->get();
    }
    std::optional<workspace::Buffer<T>> scratch;
    // Sized by the job's own worker count, which another thread's set_num_threads cannot change.
    const auto reserve = [&](int workers) {
        if (!direct) scratch.emplace(kRows * kCols * workers, false);
    };
    threads::parallel_for(row_tiles * col_tiles, reserve, [&](index_t task, int worker) {
        product_tile(gemm, m, n, k, a, lda, ldp, b, bias, c, task / col_tiles * tile_rows,
                     task % col_tiles * kCols,
                     direct ? nullptr : scratch->get() + worker * kRows * kCols, tile_rows);
    });
}

}  // namespace attnlab::gemm
