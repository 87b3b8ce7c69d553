#include "tensor/tensor.h"

#include <algorithm>
#include <cstring>

#include "base/error.h"
#include "device/device.h"

namespace tpb {

Storage::Storage(size_t bytes, MemCategory category, TrackingAllocator& allocator)
    : data_(allocator.allocate(bytes, category)),
      bytes_(bytes),
      category_(category),
      allocator_(allocator) {}

Storage::~Storage() { allocator_.deallocate(data_, bytes_, category_); }

Tensor Tensor::empty(Shape shape, MemCategory category, DType dtype, TrackingAllocator& allocator) {
  Tensor t;
  t.shape_ = shape;
  t.dtype_ = dtype;
  t.storage_ = std::make_shared<Storage>(static_cast<size_t>(shape.numel()) * dtype_size(dtype),
                                         category, allocator);
  return t;
}

Tensor Tensor::zeros(Shape shape, MemCategory category, DType dtype, TrackingAllocator& allocator) {
  Tensor t = empty(shape, category, dtype, allocator);
  t.zero();
  return t;
}

Device Tensor::device() const {
  TPB_CHECK(defined(), "device() of an undefined tensor");
  return storage_->device();
}

MemCategory Tensor::category() const {
  TPB_CHECK(defined(), "category() of an undefined tensor");
  return storage_->category();
}

void Tensor::check_dtype(DType expected) const {
  TPB_CHECK(defined(), "data of an undefined tensor");
  TPB_CHECK(dtype_ == expected, "tensor {} is {}, not {}", shape_.str(), dtype_name(dtype_),
            dtype_name(expected));
}

float* Tensor::f32() {
  check_dtype(DType::f32);
  return static_cast<float*>(storage_->data()) + offset_;
}
const float* Tensor::f32() const {
  check_dtype(DType::f32);
  return static_cast<const float*>(storage_->data()) + offset_;
}
std::span<float> Tensor::span_f32() { return {f32(), static_cast<size_t>(numel())}; }
std::span<const float> Tensor::span_f32() const { return {f32(), static_cast<size_t>(numel())}; }

int32_t* Tensor::i32() {
  check_dtype(DType::i32);
  return static_cast<int32_t*>(storage_->data()) + offset_;
}
const int32_t* Tensor::i32() const {
  check_dtype(DType::i32);
  return static_cast<const int32_t*>(storage_->data()) + offset_;
}

void* Tensor::raw() {
  TPB_CHECK(defined(), "data of an undefined tensor");
  return static_cast<char*>(storage_->data()) + offset_ * dtype_size(dtype_);
}
const void* Tensor::raw() const {
  TPB_CHECK(defined(), "data of an undefined tensor");
  return static_cast<const char*>(storage_->data()) + offset_ * dtype_size(dtype_);
}

Tensor Tensor::view(Shape shape) const {
  TPB_CHECK(shape.numel() == numel(), "cannot view {} ({} elements) as {} ({} elements)",
            shape_.str(), numel(), shape.str(), shape.numel());
  Tensor t = *this;
  t.shape_ = shape;
  return t;
}

Tensor Tensor::narrow0(int64_t start, int64_t length) const {
  TPB_CHECK(ndim() >= 1, "narrow0 of a 0-d tensor");
  TPB_CHECK(start >= 0 && length >= 0 && start + length <= dim(0),
            "narrow0({}, {}) out of range for dimension 0 of {}", start, length, shape_.str());
  const int64_t row = dim(0) == 0 ? 0 : numel() / dim(0);
  Tensor t = *this;
  t.offset_ += start * row;
  t.shape_ = shape_.with_dim(0, length);
  return t;
}

Tensor Tensor::clone(MemCategory category) const {
  Tensor t = empty(shape_, category, dtype_, default_allocator(device()));
  t.copy_from(*this);
  return t;
}

Tensor Tensor::to(Device device, MemCategory category) const {
  Tensor t = empty(shape_, category, dtype_, default_allocator(device));
  t.copy_from(*this);
  return t;
}

void Tensor::fill(float value) {
  if (device() == Device::cuda)
    device::fill_f32(f32(), static_cast<size_t>(numel()), value);
  else
    std::fill_n(f32(), numel(), value);
}

void Tensor::zero() {
  if (device() == Device::cuda)
    device::zero_bytes(raw(), nbytes());
  else
    std::memset(raw(), 0, nbytes());
}

void Tensor::copy_from(const Tensor& src) {
  TPB_CHECK(src.numel() == numel() && src.dtype() == dtype_,
            "copy_from: source {} {} into destination {} {}", src.shape().str(),
            dtype_name(src.dtype()), shape_.str(), dtype_name(dtype_));
  if (device() == Device::cpu && src.device() == Device::cpu)
    std::memcpy(raw(), src.raw(), nbytes());
  else
    device::copy_bytes(raw(), src.raw(), nbytes());  // returns once a copy to the host landed
}

}  // namespace tpb
