// One arch's optimizer updates of one chunk of a parameter, in place (optimizer_update.cpp,
// compiled once per arch); the arch's kernel table points at them.
#pragma once

#include "layers/optimizer.hpp"

namespace attnlab::layers::ATTNLAB_ARCH_NS {

// Elements [begin, begin + n) of one parameter's buffers.
template <class T>
void sgd_chunk(const SgdBuffers<T>& b, index_t begin, index_t n, const SgdOptions& o);

template <class T>
void adam_chunk(const AdamBuffers<T>& b, index_t begin, index_t n, const AdamOptions& o);

}  // namespace attnlab::layers::ATTNLAB_ARCH_NS
