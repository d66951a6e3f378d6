// Argument checks shared by the bindings. The Python layer validates user input with friendly
// messages; these guard the C++ boundary itself, so a bad call can never reach a kernel.
#pragma once

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <array>
#include <cstdint>
#include <initializer_list>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "attnlab/api.hpp"

namespace attnlab::bindings {

namespace py = pybind11;

template <class T>
using Array = py::array_t<T, py::array::c_style>;
using IndexArray = py::array_t<std::int64_t, py::array::c_style>;

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

inline std::vector<index_t> shape_of(const py::array& a) {
    return std::vector<index_t>(a.shape(), a.shape() + a.ndim());
}

// The number of rows of a 2-D (rows, n) operand; ValueError for any other ndim.
inline index_t rows_of(const py::array& a, const char* name) {
    if (a.ndim() != 2)
        throw py::value_error(std::string(name) + ": expected 2 dimensions (rows, n), got " +
                              std::to_string(a.ndim()));
    return a.shape(0);
}

// Raises ValueError unless every index is in [0, size) or equals `except` (when given).
inline void expect_indices(const IndexArray& a, const char* name, index_t size,
                           std::optional<index_t> except = std::nullopt) {
    const std::int64_t* p = a.data();
    for (py::ssize_t i = 0; i < a.size(); ++i)
        if ((p[i] < 0 || p[i] >= size) && p[i] != except)
            throw py::value_error(std::string(name) + ": value " + std::to_string(p[i]) +
                                  " at flat position " + std::to_string(i) +
                                  " is out of range [0, " + std::to_string(size) + ")");
}

// The value named `name` among `choices` ({name, value} pairs) of argument `arg`; ValueError
// listing the choices otherwise.
template <class E>
E named_choice(const std::string& name, const char* arg,
               std::initializer_list<std::pair<const char*, E>> choices) {
    std::string listed;
    for (const auto& [label, value] : choices) {
        if (name == label) return value;
        listed += (listed.empty() ? "'" : ", '") + std::string(label) + "'";
    }
    throw py::value_error(std::string(arg) + ": expected one of " + listed + ", got '" + name +
                          "'");
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
    bool empty = s.batch == 0 || s.heads == 0 || s.lq == 0 || s.lk == 0;  // never read
    for (int ax = 0; ax < 4; ++ax) {
        if (a.shape(ax) != full[ax] && a.shape(ax) != 1)
            throw py::value_error(std::string(name) + ": axis " + std::to_string(ax) +
                                  " has size " + std::to_string(a.shape(ax)) + ", expected " +
                                  std::to_string(full[ax]) + " or 1");
        stride[ax] = a.shape(ax) == 1 ? 0 : a.strides(ax) / static_cast<index_t>(sizeof(T));
        if (!empty && a.shape(ax) != 1 && a.strides(ax) % static_cast<index_t>(sizeof(T)) != 0)
            throw py::value_error(std::string(name) + ": strides must be whole elements");
    }
    if (!empty && full[3] > 1 && stride[3] != 1)
        throw py::value_error(std::string(name) + ": the last axis must be contiguous");
    return {static_cast<const T*>(a.data()), stride[0], stride[1], stride[2]};
}

}  // namespace attnlab::bindings
