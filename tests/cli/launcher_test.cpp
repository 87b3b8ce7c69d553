// launch_refusal: which rank counts the launcher refuses to start, on made-up machines.
#include <gtest/gtest.h>

#include <fstream>

#include <algorithm>

#include "base/error.h"
#include "cli/launcher.h"

namespace tpb {
namespace {

constexpr int64_t kGiB = int64_t{1} << 30;

TEST(LaunchRefusal, RanksThatFitAreLaunched) {
  const MachineCapacity ci{24 * kGiB, 2};
  EXPECT_EQ(launch_refusal(1, ci), "");
  EXPECT_EQ(launch_refusal(4, ci), "");
  EXPECT_EQ(launch_refusal(2 * kMaxRanksPerCore, ci), "");  // 16 ranks: 8 a core
  // Exactly the memory available still fits.
  EXPECT_EQ(launch_refusal(10, {10 * kRankBaselineBytes, 64}), "");
  // Memory unknown (no /proc/meminfo): only the cores count.
  EXPECT_EQ(launch_refusal(100, {-1, 64}), "");
}

TEST(LaunchRefusal, AThousandRanksOnTheCiMachineNameBothLimitsInOneLine) {
  const std::string why = launch_refusal(1000, {24 * kGiB, 2});
  EXPECT_EQ(why,
            "--nproc 1000 would overload this machine: 31.2 GiB at 32 MiB a rank before any work, of 24.0 GiB "
            "available; 1000 ranks on 2 cores (at most 16: 8 a core); use fewer ranks, or add --force-nproc to "
            "launch them anyway");
  EXPECT_EQ(why.find('\n'), std::string::npos);
}

TEST(LaunchRefusal, OversubscribedCoresAloneAreRefused) {
  const std::string why = launch_refusal(2 * kMaxRanksPerCore + 1, {24 * kGiB, 2});
  EXPECT_EQ(why, "--nproc 17 would overload this machine: 17 ranks on 2 cores (at most 16: 8 a core); use fewer "
                 "ranks, or add --force-nproc to launch them anyway");
  EXPECT_NE(launch_refusal(9, {24 * kGiB, 1}).find("9 ranks on 1 core (at most 8: 8 a core)"), std::string::npos);
}

TEST(LaunchRefusal, MemoryAloneIsRefused) {
  const std::string why = launch_refusal(210, {6 * kGiB, 64});
  EXPECT_EQ(why, "--nproc 210 would overload this machine: 6.6 GiB at 32 MiB a rank before any work, of 6.0 GiB "
                 "available; use fewer ranks, or add --force-nproc to launch them anyway");
  EXPECT_EQ(launch_refusal(11, {10 * kRankBaselineBytes, 64}).find("--nproc 11 would overload this machine: "), 0u);
}

TEST(LaunchRefusal, ReadsThisMachine) {
  const MachineCapacity m = read_machine_capacity();
  EXPECT_GE(m.cores, 1);
  EXPECT_GT(m.mem_available_bytes, 0);  // Linux has MemAvailable since 3.14
}

TEST(HostSpec, HostsAndHostfilesGiveTheSlotsAndGoToMpirun) {
  HostSpec h = parse_host_spec("h1:2,h2:3,h3", "");
  EXPECT_EQ(h.slots, 6);
  EXPECT_EQ(h.max_slots, 3);
  const std::vector<std::string> cmd = mpirun_command(6, {"tpbench", "mesh"}, h);
  const auto at = std::find(cmd.begin(), cmd.end(), "--host");
  ASSERT_NE(at, cmd.end());
  EXPECT_EQ(*(at + 1), "h1:2,h2:3,h3");
  const std::string file = ::testing::TempDir() + "/tpb-hostfile";
  {
    std::ofstream out(file);
    out << "# two nodes\nnode1 slots=4\n\nnode2 slots=2 max_slots=8  # comment\n";
  }
  h = parse_host_spec("", file);
  EXPECT_EQ(h.slots, 6);
  EXPECT_EQ(h.max_slots, 4);
  for (const char* bad : {"h1:0", "h1:x", ",", "h1:2,", "h 1"}) EXPECT_THROW(parse_host_spec(bad, ""), UsageError) << bad;
  EXPECT_THROW(parse_host_spec("h1", file), UsageError);  // not both
  EXPECT_TRUE(parse_host_spec("", "").empty());
}

}  // namespace
}  // namespace tpb
