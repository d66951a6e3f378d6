// Kernels for avx512f; this file and layers/optimizer_update.cpp are the only ones built with
// its instruction-set flags.
#define ATTNLAB_ARCH_NS avx512f

#include "arch/gcc_avx512_warnings.hpp"

#include "kernels/table.hpp"

const attnlab::KernelTable attnlab::kernels_avx512f =
    attnlab::kernels::avx512f::make_table<xsimd::avx512f>("avx512f");
