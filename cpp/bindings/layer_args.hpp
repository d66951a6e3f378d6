// The arguments the fused layers' bindings share (encoder_layer.cpp, decoder_layer.cpp):
// optional parameters and gradients checked by shape, the heads' counts, the options' values,
// the attention's mask, and an activation by name.
#pragma once

#include <algorithm>
#include <cmath>
#include <initializer_list>
#include <optional>
#include <string>
#include <vector>

#include "checks.hpp"
#include "layers/encoder_layer.hpp"

namespace attnlab::bindings {

template <class T>
using Optional = std::optional<Array<T>>;

// A parameter's data after checking its shape; null for None.
template <class T>
const T* parameter(const Optional<T>& a, const char* name, const std::vector<index_t>& shape) {
    if (!a) return nullptr;
    expect_shape(*a, name, shape);
    return a->data();
}

// A gradient's destination after checking its shape; null for None.
template <class T>
T* gradient(Optional<T>& a, const char* name, const std::vector<index_t>& shape) {
    return a ? output(*a, name, shape) : nullptr;
}

// A layer backward's gradient destination after checking its shape, null for None; zeroed
// for a layer without a token (empty x), which has no gradient but zeros (and whose backward
// computes nothing).
template <class T>
T* layer_gradient(Optional<T>& a, const char* name, const std::vector<index_t>& shape,
                  const Array<T>& x) {
    T* p = gradient(a, name, shape);
    if (p && x.size() == 0) std::fill(p, p + a->size(), T(0));
    return p;
}

// An optional array argument, None by default.
inline py::arg_v optional(const char* name) {
    return py::arg(name).noconvert().none(true) = py::none();
}

// Raises ValueError unless heads divides d_model and kv_heads divides heads.
inline void check_heads(index_t d_model, index_t heads, index_t kv_heads) {
    if (heads < 1 || d_model % heads != 0)
        throw py::value_error("heads: " + std::to_string(heads) + " must be >= 1 and divide " +
                              "d_model " + std::to_string(d_model));
    if (kv_heads < 1 || heads % kv_heads != 0)
        throw py::value_error("kv_heads: " + std::to_string(kv_heads) +
                              " must be >= 1 and divide heads " + std::to_string(heads));
}

// Raises ValueError unless the options' rotary positions fit heads of dim, each norm's eps is
// finite and each dropout's p in [0, 1).
inline void check_options(bool rotary, const RopeOptions& rope, index_t dim,
                          std::initializer_list<double> eps,
                          std::initializer_list<layers::DropoutOption> dropouts) {
    if (rotary && (rope.rotary_dim % 2 != 0 || rope.rotary_dim > dim || rope.rotary_dim < 0 ||
                   !(rope.base > 0)))
        throw py::value_error("options.rope: rotary_dim must be even and <= the heads' dim " +
                              std::to_string(dim) + ", base > 0");
    for (double e : eps)
        if (!std::isfinite(e)) throw py::value_error("options: norm eps must be finite");
    for (const layers::DropoutOption& o : dropouts)
        if (!(o.p >= 0.0 && o.p < 1.0))
            throw py::value_error("options: dropout p must be in [0, 1)");
}

// An attention's mask (broadcast over scores) and ALiBi slopes (heads), checked.
template <class T>
layers::EncoderLayerAttention<T> check_attention(const AttentionShape& scores,
                                                 const std::optional<py::array>& mask,
                                                 const char* mask_name,
                                                 const Optional<T>& alibi_slopes) {
    layers::EncoderLayerAttention<T> at;
    if (mask) {
        if (!py::isinstance<py::array_t<bool>>(*mask))
            throw py::type_error(std::string(mask_name) + ": expected a bool array");
        at.mask = broadcast4<std::uint8_t>(*mask, mask_name, scores);
    }
    at.alibi_slopes = parameter(alibi_slopes, "alibi_slopes", {scores.heads});
    return at;
}

// Consecutive blocks of one buffer, handed out in order: where a forward keeps what its
// backward needs.
template <class T>
class Blocks {
public:
    explicit Blocks(T* at) : at_(at) {}

    T* take(index_t count) {
        T* block = at_;
        at_ += count;
        return block;
    }

    // An attention's operands and results: b sequences, queries of lq tokens in heads, keys
    // and values of lk in kv_heads, heads of d.
    layers::AttentionActivations<T> attention(index_t b, index_t heads, index_t kv_heads,
                                              index_t lq, index_t lk, index_t d) {
        layers::AttentionActivations<T> a;
        a.q = take(b * heads * lq * d);
        a.k = take(b * kv_heads * lk * d);
        a.v = take(b * kv_heads * lk * d);
        a.attention = take(b * heads * lq * d);
        a.stats = {take(b * heads * lq), take(b * heads * lq)};
        return a;
    }

    // How many elements attention(...) takes.
    static index_t attention_size(index_t b, index_t heads, index_t kv_heads, index_t lq,
                                  index_t lk, index_t d) {
        return 2 * b * heads * lq * (d + 1) + 2 * b * kv_heads * lk * d;
    }

private:
    T* at_;
};

// The options' activation property: its name, and the activation a name sets.
inline const char* activation_name(Activation a) {
    return a == Activation::relu ? "relu" : a == Activation::gelu ? "gelu" : "gelu_tanh";
}

inline Activation activation_named(const std::string& name) {
    return named_choice<Activation>(name, "activation",
                                    {{"relu", Activation::relu},
                                     {"gelu", Activation::gelu},
                                     {"gelu_tanh", Activation::gelu_tanh}});
}

}  // namespace attnlab::bindings
