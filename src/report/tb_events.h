// TensorBoard event files (what `tensorboard --logdir` and tbparse read), written directly.
//
// An event file is a sequence of TFRecords: uint64 length (little-endian), uint32 masked
// CRC-32C of the length's 8 bytes, the data, uint32 masked CRC-32C of the data. Each record's
// data is a tensorflow.Event protobuf: wall_time (1, double), step (2, int64), and either
// file_version (3, string: "brain.Event:2", the first record) or summary (5): a Summary of
// Values, each tag (1, string) and simple_value (2, float). Those few fields are encoded
// here by hand: no C++ TensorBoard writer is packaged for Debian, protobuf's generated
// code would need TensorFlow's .proto files for four fields, and CRC-32C (Castagnoli, not
// zlib's CRC-32) is one instruction per 8 bytes with SSE4.2 (a table otherwise).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace tpb {

// CRC-32C of data (continuing from crc), and TFRecord's mask of it.
uint32_t crc32c(const void* data, size_t n, uint32_t crc = 0);
uint32_t masked_crc32c(const void* data, size_t n);

struct TbScalar {
  std::string tag;
  int64_t step = 0;
  float value = 0;
};

// The whole file's bytes: the file_version record, then one record per scalar (all with
// wall_time `wall_time`, seconds since the epoch).
std::string tb_event_file(const std::vector<TbScalar>& scalars, double wall_time);

// DIR/events.out.tfevents.<seconds>.<host>.<pid>.0, TensorBoard's naming (it reads files
// whose names contain "tfevents"), written atomically; returns the path. Throws
// tpb::Error naming the path.
std::string write_tb_events(const std::string& dir, const std::vector<TbScalar>& scalars);

}  // namespace tpb
