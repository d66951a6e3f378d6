// Kernels for neon64; this file and layers/optimizer_update.cpp are the only ones built with
// its instruction-set flags.
#define ATTNLAB_ARCH_NS neon64
#include "kernels/table.hpp"

const attnlab::KernelTable attnlab::kernels_neon64 =
    attnlab::kernels::neon64::make_table<xsimd::neon64>("neon64");
