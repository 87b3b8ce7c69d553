#include "data/data_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "base/error.h"

namespace tpb {
namespace {

const char* file_kind(mode_t mode) {
  if (S_ISDIR(mode)) return "a directory";
  if (S_ISFIFO(mode)) return "a FIFO (named pipe)";
  if (S_ISCHR(mode)) return "a character device";
  if (S_ISBLK(mode)) return "a block device";
  if (S_ISSOCK(mode)) return "a socket";
  return "not a regular file";
}

}  // namespace

DataFile::DataFile(const std::string& path) : path_(path) {
  // O_NONBLOCK: opening a FIFO for reading would otherwise wait for a writer, forever. It is
  // refused below; on a regular file the flag changes nothing.
  fd_ = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
  if (fd_ < 0) usage_error("cannot open data file '{}': {}", path, std::strerror(errno));
  struct stat st {};
  if (::fstat(fd_, &st) != 0) {
    const int err = errno;
    ::close(fd_);
    usage_error("cannot stat data file '{}': {}", path, std::strerror(err));
  }
  if (!S_ISREG(st.st_mode)) {
    ::close(fd_);
    usage_error("data file '{}' is not a regular file (it is {})", path, file_kind(st.st_mode));
  }
  size_ = static_cast<uint64_t>(st.st_size);
  if (size_ == 0) {
    // /proc and /sys files say 0 bytes and still read data: their size is unknown.
    char byte = 0;
    if (::pread(fd_, &byte, 1, 0) > 0) {
      ::close(fd_);
      usage_error("data file '{}' is not a regular file with a known size (it reports 0 bytes "
                  "but reads data, as /proc and /sys files do); copy it to a regular file",
                  path);
    }
  }
}

DataFile::~DataFile() {
  if (fd_ >= 0) ::close(fd_);
}

void DataFile::read_at(uint64_t offset, void* dst, size_t n) const {
  auto* out = static_cast<char*>(dst);
  const uint64_t begin = offset;
  while (n > 0) {
    const ssize_t got = ::pread(fd_, out, n, static_cast<off_t>(offset));
    if (got < 0) {
      if (errno == EINTR) continue;
      throw Error(fmt::format("data file '{}': reading bytes [{}, {}) failed: {}", path_, begin,
                              offset + n, std::strerror(errno)));
    }
    if (got == 0) {
      struct stat st {};
      const long long now = ::fstat(fd_, &st) == 0 ? static_cast<long long>(st.st_size) : -1;
      throw Error(fmt::format("data file '{}' was truncated while in use: it had {} bytes when "
                              "opened and has {} now, so bytes [{}, {}) cannot be read",
                              path_, size_, now, begin, offset + n));
    }
    out += got;
    offset += static_cast<uint64_t>(got);
    n -= static_cast<size_t>(got);
  }
}

}  // namespace tpb
