// Results are written whole or not at all: text goes to a temporary file beside the
// destination, is flushed, and is renamed over it (rename is atomic on one filesystem).
#pragma once

#include <string>

namespace tpb {

// Creates missing parent directories. Throws tpb::Error naming the path on any failure,
// leaving no partial file behind.
void write_file_atomic(const std::string& path, const std::string& text);

// Creates the missing parent directories of `path`; tpb::Error naming the directory.
void create_parent_directories(const std::string& path);

}  // namespace tpb
