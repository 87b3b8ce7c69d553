// Where results go: directories that are never shared between runs, and files that grow
// line by line as a run goes (so an interrupted or killed run keeps what it measured).
#pragma once

#include <string>

namespace tpb {

// The local time as YYYY-MM-DD-HHMMSS (run and report directory names).
std::string local_timestamp();

// Creates `parent` (and missing ancestors), then a new directory parent/name exclusively:
// when that exists, parent/name-2, parent/name-3, ... (mkdir fails on an existing
// directory, so two processes racing for one name get two directories). Returns the path
// created. Throws tpb::Error naming the path and the reason.
std::string create_unique_directory(const std::string& parent, const std::string& name);

// Throws tpb::Error naming `path` unless a file can be created there (its parent
// directories are created; the probe file is removed again).
void check_writable_file(const std::string& path);

// A file opened once (created, or truncated) and appended to: each append is one write(2)
// of whole lines, so a process killed between appends leaves whole lines only. Never
// throws after open: a failed append is remembered (error()) and later appends are skipped.
class AppendFile {
 public:
  AppendFile() = default;
  explicit AppendFile(const std::string& path);  // throws tpb::Error when it cannot be created
  AppendFile(const AppendFile&) = delete;
  AppendFile& operator=(const AppendFile&) = delete;
  ~AppendFile();
  bool append(const std::string& text);  // false once any append failed
  const std::string& error() const { return error_; }
  const std::string& path() const { return path_; }

 private:
  int fd_ = -1;
  std::string path_, error_;
};

}  // namespace tpb
