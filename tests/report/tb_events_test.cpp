// TensorBoard's record format, checked against its definitions: CRC-32C's check value, the
// mask, and a file parsed back record by record (length, both CRCs, the Event fields).
#include <gtest/gtest.h>

#include <cstring>
#include <string>

#include "report/tb_events.h"

namespace {

using tpb::crc32c;
using tpb::masked_crc32c;

TEST(TbEvents, Crc32cHasTheCastagnoliCheckValue) {
  const char* s = "123456789";
  EXPECT_EQ(crc32c(s, 9), 0xE3069283u);  // the CRC catalogue's check value of CRC-32C
  EXPECT_EQ(crc32c("", 0), 0u);
  // Incremental equals whole, across the 8-byte fast path and the tail.
  std::string long_text(1000, 'x');
  for (size_t i = 0; i < long_text.size(); ++i) long_text[i] = static_cast<char>(i * 7);
  EXPECT_EQ(crc32c(long_text.data() + 13, long_text.size() - 13, crc32c(long_text.data(), 13)),
            crc32c(long_text.data(), long_text.size()));
  const uint32_t c = crc32c(s, 9);
  EXPECT_EQ(masked_crc32c(s, 9), ((c >> 15) | (c << 17)) + 0xa282ead8u);
}

TEST(TbEvents, EveryRecordIsFramedWithItsLengthAndBothCrcs) {
  const std::string f = tpb::tb_event_file({{"loss", 3, 2.5f}, {"time_ms/step/max", 4, -1.0f}}, 1700000000.25);
  size_t at = 0;
  int records = 0;
  std::string last;
  while (at < f.size()) {
    ASSERT_LE(at + 12, f.size());
    uint64_t len = 0;
    std::memcpy(&len, f.data() + at, 8);
    uint32_t len_crc = 0, data_crc = 0;
    std::memcpy(&len_crc, f.data() + at + 8, 4);
    EXPECT_EQ(len_crc, masked_crc32c(f.data() + at, 8));
    ASSERT_LE(at + 12 + len + 4, f.size());
    std::memcpy(&data_crc, f.data() + at + 12 + len, 4);
    EXPECT_EQ(data_crc, masked_crc32c(f.data() + at + 12, len));
    last = f.substr(at + 12, len);
    at += 12 + len + 4;
    ++records;
  }
  EXPECT_EQ(at, f.size());
  EXPECT_EQ(records, 3);  // the file_version record, then one per scalar
  // The last Event: wall_time (field 1, fixed64), step 4 (field 2), summary (field 5) holding
  // the tag and simple_value -1.0f (field 2, fixed32).
  ASSERT_GE(last.size(), 11u);
  EXPECT_EQ(static_cast<unsigned char>(last[0]), 0x09);
  double wall = 0;
  std::memcpy(&wall, last.data() + 1, 8);
  EXPECT_EQ(wall, 1700000000.25);
  EXPECT_EQ(static_cast<unsigned char>(last[9]), 0x10);
  EXPECT_EQ(static_cast<unsigned char>(last[10]), 4);
  EXPECT_NE(last.find("time_ms/step/max"), std::string::npos);
  float v = 0;
  std::memcpy(&v, last.data() + last.size() - 4, 4);
  EXPECT_EQ(v, -1.0f);
  EXPECT_EQ(static_cast<unsigned char>(last[last.size() - 5]), 0x15);
}

}  // namespace
