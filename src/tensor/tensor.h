// Tensor: an N-d, contiguous, row-major array with a shape, an element type and a device.
//
// Storage is owned through a shared handle, so copying a Tensor is cheap and aliases
// (as in PyTorch); clone() makes a deep copy. A tensor may be a view at an element offset
// into a larger storage (view(), narrow0()): this is how one flat buffer of parameters or
// gradients is carved into per-layer tensors for bucketed reductions and sharding.
//
// Every storage comes from a TrackingAllocator under a MemCategory, so memory reports can
// say which bytes are parameters, gradients, optimizer state, activations or buffers.
#pragma once

#include <memory>
#include <span>

#include "base/dtype.h"
#include "tensor/allocator.h"
#include "tensor/shape.h"

namespace tpb {

class Storage {
 public:
  Storage(size_t bytes, MemCategory category, TrackingAllocator& allocator);
  ~Storage();
  Storage(const Storage&) = delete;
  Storage& operator=(const Storage&) = delete;

  void* data() const { return data_; }
  size_t bytes() const { return bytes_; }
  MemCategory category() const { return category_; }
  Device device() const { return allocator_.device(); }

 private:
  void* data_;
  size_t bytes_;
  MemCategory category_;
  TrackingAllocator& allocator_;
};

class Tensor {
 public:
  Tensor() = default;  // undefined: no storage

  // Uninitialised storage.
  static Tensor empty(Shape shape, MemCategory category, DType dtype = DType::f32,
                      TrackingAllocator& allocator = default_allocator());
  static Tensor zeros(Shape shape, MemCategory category, DType dtype = DType::f32,
                      TrackingAllocator& allocator = default_allocator());

  bool defined() const { return storage_ != nullptr; }
  const Shape& shape() const { return shape_; }
  int ndim() const { return shape_.ndim(); }
  int64_t dim(int i) const { return shape_[i]; }
  int64_t numel() const { return shape_.numel(); }
  size_t nbytes() const { return static_cast<size_t>(numel()) * dtype_size(dtype_); }
  DType dtype() const { return dtype_; }
  Device device() const;
  MemCategory category() const;

  // Typed access; throws if the element type is not T's.
  float* f32();
  const float* f32() const;
  std::span<float> span_f32();
  std::span<const float> span_f32() const;
  int32_t* i32();
  const int32_t* i32() const;
  void* raw();
  const void* raw() const;

  // Same elements, another shape (numel must match). Shares storage.
  Tensor view(Shape shape) const;
  // Rows [start, start + length) of dimension 0. Shares storage.
  Tensor narrow0(int64_t start, int64_t length) const;
  // Deep copy into fresh storage of the given category.
  Tensor clone(MemCategory category) const;

  // Deep copy onto another device (a copy to the host has landed when this returns).
  Tensor to(Device device, MemCategory category) const;

  // fp32 only for fill; zero and copy_from work for every dtype and device. On the device
  // they are queued on the compute stream.
  void fill(float value);
  void zero();
  // Element-wise copy from a tensor of the same numel and dtype, across devices too.
  void copy_from(const Tensor& src);

 private:
  void check_dtype(DType expected) const;

  std::shared_ptr<Storage> storage_;
  Shape shape_;
  DType dtype_ = DType::f32;
  int64_t offset_ = 0;  // in elements
};

}  // namespace tpb
