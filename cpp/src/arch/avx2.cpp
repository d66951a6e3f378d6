// Kernels for avx2; this file and layers/optimizer_update.cpp are the only ones built with
// its instruction-set flags.
#define ATTNLAB_ARCH_NS avx2
#include "kernels/table.hpp"

const attnlab::KernelTable attnlab::kernels_avx2 =
    attnlab::kernels::avx2::make_table<xsimd::fma3<xsimd::avx2>>("avx2");
