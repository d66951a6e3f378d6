// Kernels for avx512f; the only file built with its instruction-set flags.
#define ATTNLAB_ARCH_NS avx512f

// GCC 12's AVX-512 intrinsics pass _mm512_undefined_* as the unused merge operand, which it
// then reports as uninitialized wherever they are inlined, a hundred times per build (GCC bug
// 105593). Only this file includes them.
#if defined(__GNUC__) && !defined(__clang__) && __GNUC__ < 13
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif

#include "kernels/table.hpp"

const attnlab::KernelTable attnlab::kernels_avx512f =
    attnlab::kernels::avx512f::make_table<xsimd::avx512f>("avx512f");
