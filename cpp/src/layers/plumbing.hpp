// One arch's layer plumbing (plumbing.cpp, compiled once per arch): the data movement and
// element-wise sums between the kernels of a fused layer; the arch's kernel table points at
// them.
#pragma once

#include "attnlab/api.hpp"

namespace attnlab::layers::ATTNLAB_ARCH_NS {

// dst (n0, n1, n2), C-contiguous, = src whose element (i, j, k) is at src[i * stride0 +
// j * stride1 + k]: the heads of a packed projection (H, L, D) cut from its rows, or the
// tokens of a head-major output (L, H, D) gathered into rows.
template <class T>
void gather(const T* src, index_t n0, index_t n1, index_t n2, index_t stride0, index_t stride1,
            T* dst);

// out = a + b over n elements (a residual connection); out may be a or b.
template <class T>
void add(const T* a, const T* b, index_t n, T* out);

}  // namespace attnlab::layers::ATTNLAB_ARCH_NS
