#include "report/output_files.h"

#include "report/atomic_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <ctime>
#include <filesystem>

#include "base/error.h"

namespace tpb {

std::string local_timestamp() {
  const std::time_t now = std::time(nullptr);
  std::tm tm{};
  localtime_r(&now, &tm);
  char stamp[32] = {};
  std::strftime(stamp, sizeof(stamp), "%Y-%m-%d-%H%M%S", &tm);
  return stamp;
}

std::string create_unique_directory(const std::string& parent, const std::string& name) {
  std::error_code ec;
  std::filesystem::create_directories(parent, ec);
  if (ec) throw Error(fmt::format("cannot create directory {}: {}", parent, ec.message()));
  for (int n = 1; n <= 10000; ++n) {
    const std::string path = parent + "/" + name + (n == 1 ? "" : "-" + std::to_string(n));
    if (mkdir(path.c_str(), 0777) == 0) return path;
    if (errno != EEXIST) throw Error(fmt::format("cannot create directory {}: {}", path, std::strerror(errno)));
  }
  throw Error(fmt::format("cannot create directory {}/{}: 10000 directories of that name exist", parent, name));
}

void check_writable_file(const std::string& path) {
  namespace fs = std::filesystem;
  const fs::path dest(path);
  create_parent_directories(path);
  std::error_code ec;
  if (fs::is_directory(dest, ec)) throw Error(fmt::format("cannot write {}: it is a directory", path));
  const std::string probe = path + ".probe." + std::to_string(getpid());
  const int fd = open(probe.c_str(), O_WRONLY | O_CREAT | O_EXCL, 0644);
  if (fd < 0) throw Error(fmt::format("cannot write {}: {}", path, std::strerror(errno)));
  const bool ok = write(fd, "{}\n", 3) == 3 && fsync(fd) == 0;
  const int err = errno;
  close(fd);
  unlink(probe.c_str());
  if (!ok) throw Error(fmt::format("cannot write {}: {}", path, std::strerror(err)));
}

AppendFile::AppendFile(const std::string& path) : path_(path) {
  fd_ = open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0644);
  if (fd_ < 0) throw Error(fmt::format("cannot create {}: {}", path, std::strerror(errno)));
}

AppendFile::~AppendFile() {
  if (fd_ >= 0) close(fd_);
}

bool AppendFile::append(const std::string& text) {
  if (fd_ < 0 || !error_.empty()) return false;
  size_t done = 0;
  while (done < text.size()) {
    const ssize_t n = write(fd_, text.data() + done, text.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      error_ = fmt::format("writing {} failed: {}", path_, n < 0 ? std::strerror(errno) : "no space written");
      // Leave whole lines only: cut what this append wrote of its text.
      if (done > 0)
        if (const off_t end = lseek(fd_, 0, SEEK_END); end >= 0) (void)!ftruncate(fd_, end - static_cast<off_t>(done));
      return false;
    }
    done += static_cast<size_t>(n);
  }
  return true;
}

}  // namespace tpb
