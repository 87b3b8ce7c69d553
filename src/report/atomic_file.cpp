#include "report/atomic_file.h"

#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>

#include "base/error.h"

namespace tpb {

void create_parent_directories(const std::string& path) {
  const std::filesystem::path dest(path);
  if (!dest.has_parent_path()) return;
  std::error_code ec;
  std::filesystem::create_directories(dest.parent_path(), ec);
  if (ec) throw Error(fmt::format("cannot create directory {}: {}", dest.parent_path().string(), ec.message()));
}

void write_file_atomic(const std::string& path, const std::string& text) {
  create_parent_directories(path);
  const std::string tmp = path + ".tmp." + std::to_string(getpid());
  FILE* f = std::fopen(tmp.c_str(), "wb");
  if (f == nullptr) throw Error(fmt::format("cannot write {}: {}", tmp, std::strerror(errno)));
  const bool ok = std::fwrite(text.data(), 1, text.size(), f) == text.size() &&
                  std::fflush(f) == 0 && fsync(fileno(f)) == 0;
  const int saved = errno;
  std::fclose(f);
  if (!ok) {
    std::remove(tmp.c_str());
    throw Error(fmt::format("writing {} failed: {}", path, std::strerror(saved)));
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    const int err = errno;
    std::remove(tmp.c_str());
    throw Error(fmt::format("cannot rename {} to {}: {}", tmp, path, std::strerror(err)));
  }
}

}  // namespace tpb
