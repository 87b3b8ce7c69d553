// A data file opened for reading with pread (not mmap): a token file can be truncated or
// replaced while a run reads it, and a mapping then kills the process with SIGBUS, where a
// read returns short and becomes an error naming the file. Reads go through the page cache,
// which every rank of a node shares, as a mapping would. The cost, measured on a 200 MB
// uint16 file in the page cache (docs/data.md): ~6 us a row of 1024 tokens over the mapping.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace tpb {

class DataFile {
 public:
  // Throws UsageError naming the path and the reason if the file cannot be opened, is not a
  // regular file (a FIFO, a device, a directory: refused without waiting for a writer), or
  // says it holds 0 bytes but reads data (/proc, /sys: its size is unknown). An empty
  // regular file opens with size() == 0.
  explicit DataFile(const std::string& path);
  ~DataFile();
  DataFile(const DataFile&) = delete;
  DataFile& operator=(const DataFile&) = delete;

  const std::string& path() const { return path_; }
  // The size when opened; every layout is computed from it.
  uint64_t size() const { return size_; }

  // Reads bytes [offset, offset + n) into dst. Throws tpb::Error naming the file, the range
  // and the file's size now if the file has shrunk since it was opened (truncated while in
  // use) or the read fails.
  void read_at(uint64_t offset, void* dst, size_t n) const;

 private:
  std::string path_;
  int fd_ = -1;
  uint64_t size_ = 0;
};

}  // namespace tpb
