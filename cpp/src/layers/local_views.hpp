// xt::adapt views for the layer files compiled once per arch (optimizer_update.cpp,
// plumbing.cpp). xtensor's templates do not name the instruction set, so each arch's copy of
// such a file would emit functions of one name, each compiled for its own arch, and the linker
// would keep one of them for every arch. Views over an allocator type local to the including
// file (this header's anonymous namespace gives each file its own) keep every instantiation in
// it. Include only from those files.
#pragma once

#include <array>
#include <cstddef>
#include <memory>
#include <type_traits>

#include <xtensor/xadapt.hpp>

#include "attnlab/api.hpp"

namespace attnlab::layers::ATTNLAB_ARCH_NS {
namespace {

template <class T>
struct LocalAllocator : std::allocator<T> {
    template <class U>
    struct rebind {
        using other = LocalAllocator<U>;
    };
};

// A C-contiguous array of `shape` at data, its layout row-major at compile time (xtensor's
// SIMD loops take no dynamic layout). The pointer goes in as a prvalue: given an lvalue, adapt
// would keep a reference to this function's parameter.
template <class T, std::size_t N>
auto contiguous_view(T* data, const std::array<std::size_t, N>& shape) {
    std::size_t size = 1;
    for (std::size_t n : shape) size *= n;
    return xt::adapt(static_cast<T*>(data), size, xt::no_ownership(), shape,
                     xt::layout_type::row_major, LocalAllocator<std::remove_const_t<T>>());
}

// The 1-D view of n elements at data.
template <class T>
auto flat_view(T* data, index_t n) {
    return contiguous_view(data, std::array<std::size_t, 1>{static_cast<std::size_t>(n)});
}

}  // namespace
}  // namespace attnlab::layers::ATTNLAB_ARCH_NS
