// The plumbing of a fused layer as xtensor expressions over xt::adapt views: head splits and
// merges as assignments between strided views (a head's rows, D contiguous elements each, so
// xtensor's strided loop copies them a SIMD batch at a time) and residual sums as xt::noalias
// element-wise sums. Compiled once per arch (CMake's attnlab_plumbing_<arch>), with
// ATTNLAB_ARCH_NS naming it and that arch's flags, so xtensor vectorises through xsimd at each
// arch (XTENSOR_USE_XSIMD).
#include "arch/gcc_avx512_warnings.hpp"

#include "layers/plumbing.hpp"

#include <array>
#include <cstddef>
#include <type_traits>

#include <xtensor/xadapt.hpp>
#include <xtensor/xassign.hpp>
#include <xtensor/xnoalias.hpp>

#include "layers/local_views.hpp"

namespace attnlab::layers::ATTNLAB_ARCH_NS {
namespace {

// (n0, n1, n2) elements at data, element (i, j, k) at data[i * s0 + j * s1 + k]. The pointer
// goes in as a prvalue: given an lvalue, adapt would keep a reference to this function's
// parameter. The size is the elements' count, not their span: xtensor checks the one against
// the shape and reaches elements through the strides.
template <class T>
auto strided_view(T* data, index_t n0, index_t n1, index_t n2, index_t s0, index_t s1) {
    using Size = std::size_t;
    const Size size = static_cast<Size>(n0 * n1 * n2);
    return xt::adapt(static_cast<T*>(data), size, xt::no_ownership(),
                     std::array<Size, 3>{Size(n0), Size(n1), Size(n2)},
                     std::array<std::ptrdiff_t, 3>{s0, s1, 1},
                     LocalAllocator<std::remove_const_t<T>>());
}

}  // namespace

template <class T>
void gather(const T* src, index_t n0, index_t n1, index_t n2, index_t stride0, index_t stride1,
            T* dst) {
    if (n0 == 0 || n1 == 0 || n2 == 0) return;
    // Row-major at compile time on the left: xtensor's strided loop then copies the n2
    // contiguous elements of each (i, j) a SIMD batch at a time; a dynamic layout there would
    // go element by element through its steppers (25 times slower).
    using Size = std::size_t;
    auto to = contiguous_view(dst, std::array<Size, 3>{Size(n0), Size(n1), Size(n2)});
    const auto from = strided_view(src, n0, n1, n2, stride0, stride1);
    static_assert(xt::xassign_traits<decltype(to), decltype(from)>::simd_strided_assign(),
                  "head copies must be xtensor's SIMD strided loops (XTENSOR_USE_XSIMD)");
    xt::noalias(to) = from;
}

template <class T>
void add(const T* a, const T* b, index_t n, T* out) {
    auto sum = flat_view(out, n);
    const auto x = flat_view(a, n), y = flat_view(b, n);
    static_assert(xt::xassign_traits<decltype(sum), decltype(x + y)>::simd_linear_assign(),
                  "residual sums must be SIMD linear assignments (XTENSOR_USE_XSIMD)");
    xt::noalias(sum) = x + y;
}

template void gather<float>(const float*, index_t, index_t, index_t, index_t, index_t, float*);
template void gather<double>(const double*, index_t, index_t, index_t, index_t, index_t, double*);
template void add<float>(const float*, const float*, index_t, float*);
template void add<double>(const double*, const double*, index_t, double*);

}  // namespace attnlab::layers::ATTNLAB_ARCH_NS
