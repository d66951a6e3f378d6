// Argument checks shared by the bindings. The Python layer validates user input with friendly
// messages; these guard the C++ boundary itself, so a bad call can never reach a kernel.
#pragma once

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "attnlab/api.hpp"

namespace attnlab::bindings {

namespace py = pybind11;

template <class T>
using Array = py::array_t<T, py::array::c_style>;

inline std::string shape_str(const py::array& a) {
    std::string s = "(";
    for (py::ssize_t i = 0; i < a.ndim(); ++i) s += (i ? ", " : "") + std::to_string(a.shape(i));
    return s + (a.ndim() == 1 ? ",)" : ")");
}

inline std::string shape_str(const std::vector<index_t>& shape) {
    std::string s = "(";
    for (std::size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
    return s + (shape.size() == 1 ? ",)" : ")");
}

// Raises ValueError unless `a` has exactly `shape`.
inline void expect_shape(const py::array& a, const char* name, const std::vector<index_t>& shape) {
    bool ok = a.ndim() == static_cast<py::ssize_t>(shape.size());
    for (std::size_t i = 0; ok && i < shape.size(); ++i) ok = a.shape(i) == shape[i];
    if (!ok)
        throw py::value_error(std::string(name) + ": expected shape " + shape_str(shape) +
                              ", got " + shape_str(a));
}

// Raises ValueError unless `a` is a writable, C-contiguous output of `shape`.
template <class T>
T* output(Array<T>& a, const char* name, const std::vector<index_t>& shape) {
    expect_shape(a, name, shape);
    if (!a.writeable()) throw py::value_error(std::string(name) + ": output array is read-only");
    return a.mutable_data();
}

// A (B|1, H|1, Lq|1, Lk) operand broadcast over (batch, heads, lq, lk): element strides of the
// first three axes, 0 where broadcast; the last axis must be contiguous.
template <class T>
Broadcast4<T> broadcast4(const py::array& a, const char* name, const AttentionShape& s) {
    if (a.ndim() != 4)
        throw py::value_error(std::string(name) + ": expected 4 dimensions, got " +
                              std::to_string(a.ndim()));
    const std::array<index_t, 4> full = {s.batch, s.heads, s.lq, s.lk};
    std::array<index_t, 4> stride{};
    for (int ax = 0; ax < 4; ++ax) {
        if (a.shape(ax) != full[ax] && a.shape(ax) != 1)
            throw py::value_error(std::string(name) + ": axis " + std::to_string(ax) +
                                  " has size " + std::to_string(a.shape(ax)) + ", expected " +
                                  std::to_string(full[ax]) + " or 1");
        stride[ax] = a.shape(ax) == 1 ? 0 : a.strides(ax) / static_cast<index_t>(sizeof(T));
        if (a.shape(ax) != 1 && a.strides(ax) % static_cast<index_t>(sizeof(T)) != 0)
            throw py::value_error(std::string(name) + ": strides must be whole elements");
    }
    if (full[3] > 1 && stride[3] != 1 && a.size() > 0)
        throw py::value_error(std::string(name) + ": the last axis must be contiguous");
    return {static_cast<const T*>(a.data()), stride[0], stride[1], stride[2]};
}

}  // namespace attnlab::bindings
