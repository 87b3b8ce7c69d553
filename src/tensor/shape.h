// Shape of a contiguous, row-major tensor: up to kMaxDims sizes, the last one fastest.
#pragma once

#include <array>
#include <cstdint>
#include <initializer_list>
#include <string>

namespace tpb {

class Shape {
 public:
  static constexpr int kMaxDims = 6;

  Shape() = default;
  Shape(std::initializer_list<int64_t> sizes);

  int ndim() const { return ndim_; }
  // Size of dimension i; negative i counts from the end (-1 is the last).
  int64_t operator[](int i) const;
  int64_t numel() const;
  // Product of every size but the last: the row count when the tensor is read as a matrix.
  int64_t rows() const;
  int64_t last() const { return (*this)[-1]; }
  // The same shape with dimension i resized.
  Shape with_dim(int i, int64_t size) const;
  std::string str() const;  // "(2, 3, 4)"

  friend bool operator==(const Shape& a, const Shape& b);

 private:
  std::array<int64_t, kMaxDims> sizes_{};
  int ndim_ = 0;
};

}  // namespace tpb
