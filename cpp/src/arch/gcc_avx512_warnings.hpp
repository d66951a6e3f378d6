// GCC 12's AVX-512 intrinsics pass _mm512_undefined_* as the unused merge operand, which it
// then reports as uninitialized wherever they are inlined, a hundred times per build (GCC bug
// 105593). Included first by the TUs built with AVX-512 flags; a no-op elsewhere.
#pragma once

#if defined(__AVX512F__) && defined(__GNUC__) && !defined(__clang__) && __GNUC__ < 13
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
