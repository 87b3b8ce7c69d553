#include "tensor/shape.h"

#include "base/error.h"

namespace tpb {

Shape::Shape(std::initializer_list<int64_t> sizes) {
  TPB_CHECK(sizes.size() <= kMaxDims, "at most {} dimensions, got {}", kMaxDims, sizes.size());
  for (int64_t s : sizes) {
    TPB_CHECK(s >= 0, "negative size {} in a shape", s);
    sizes_[ndim_++] = s;
  }
}

int64_t Shape::operator[](int i) const {
  const int j = i < 0 ? i + ndim_ : i;
  TPB_CHECK(j >= 0 && j < ndim_, "dimension {} out of range for shape {}", i, str());
  return sizes_[j];
}

int64_t Shape::numel() const {
  int64_t n = 1;
  for (int i = 0; i < ndim_; ++i) n *= sizes_[i];
  return n;
}

int64_t Shape::rows() const {
  TPB_CHECK(ndim_ >= 1, "rows() of a 0-d shape");
  int64_t n = 1;
  for (int i = 0; i + 1 < ndim_; ++i) n *= sizes_[i];
  return n;
}

Shape Shape::with_dim(int i, int64_t size) const {
  const int j = i < 0 ? i + ndim_ : i;
  TPB_CHECK(j >= 0 && j < ndim_, "dimension {} out of range for shape {}", i, str());
  TPB_CHECK(size >= 0, "negative size {} for dimension {}", size, i);
  Shape s = *this;
  s.sizes_[j] = size;
  return s;
}

std::string Shape::str() const {
  std::string s = "(";
  for (int i = 0; i < ndim_; ++i) s += (i ? ", " : "") + std::to_string(sizes_[i]);
  return s + ")";
}

bool operator==(const Shape& a, const Shape& b) {
  if (a.ndim_ != b.ndim_) return false;
  for (int i = 0; i < a.ndim_; ++i)
    if (a.sizes_[i] != b.sizes_[i]) return false;
  return true;
}

}  // namespace tpb
