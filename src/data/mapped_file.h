// A whole file mapped read-only into memory (POSIX mmap), unmapped on destruction.
// Token files can be many GB (FineWeb-10B is 20 GB of uint16): mapping lets the kernel page
// in only what the sampled rows touch, and every rank of a node shares the same pages.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace tpb {

class MappedFile {
 public:
  // Throws UsageError naming the path and the system's reason if the file cannot be opened,
  // is not a regular file, or cannot be mapped. An empty file maps to size() == 0.
  explicit MappedFile(const std::string& path);
  ~MappedFile();
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;

  const std::string& path() const { return path_; }
  const uint8_t* data() const { return data_; }
  size_t size() const { return size_; }

 private:
  std::string path_;
  const uint8_t* data_ = nullptr;
  size_t size_ = 0;
};

}  // namespace tpb
