// Row-wise work split into tasks for the thread pool. Tile sizes depend only on the shape, never
// on the thread count, so per-tile partial sums reduce to the same bits on any pool.
#pragma once

#include <algorithm>

#include "attnlab/api.hpp"
#include "threads.hpp"

namespace attnlab {

constexpr index_t kTileElements = 16384;

// Rows per tile for rows n wide: about kTileElements elements, at least one row.
inline index_t tile_rows(index_t n) {
    return std::max<index_t>(1, kTileElements / std::max<index_t>(n, 1));
}

inline index_t row_tiles(index_t rows, index_t n) {
    index_t tile = tile_rows(n);
    return (rows + tile - 1) / tile;
}

// f(tile, first_row, num_rows) for every tile of rows, on the pool.
template <class F>
void for_row_tiles(index_t rows, index_t n, F f) {
    const index_t tile = tile_rows(n);
    threads::parallel_for(row_tiles(rows, n), [&](index_t t, int) {
        index_t r0 = t * tile;
        f(t, r0, std::min(tile, rows - r0));
    });
}

}  // namespace attnlab
