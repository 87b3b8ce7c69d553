// The machine description saved beside every result (report/machine.h): what this host
// says about itself, and the JSON written from it.
#include <gtest/gtest.h>
#include <unistd.h>

#include <string>
#include <thread>

#include "report/machine.h"

namespace tpb {
namespace {

TEST(MachineInfo, DescribesThisHost) {
  const MachineInfo m = read_machine_info("Open MPI v9.9 (test)");
  char host[256] = {};
  ASSERT_EQ(gethostname(host, sizeof(host) - 1), 0);
  EXPECT_EQ(m.hostname, host);
  EXPECT_EQ(m.logical_cores, static_cast<int>(std::thread::hardware_concurrency()));
  EXPECT_GT(m.logical_cores, 0);
  EXPECT_EQ(m.mpi_library, "Open MPI v9.9 (test)") << "passed through as given";
  EXPECT_FALSE(m.cpu_model.empty());
  EXPECT_FALSE(m.os.empty());
  EXPECT_FALSE(m.blas.empty());
  EXPECT_TRUE(m.compiler.rfind("g++ ", 0) == 0 || m.compiler.rfind("clang ", 0) == 0) << m.compiler;
  // Values are trimmed of the quotes and blanks around them in /etc/os-release.
  EXPECT_NE(m.os.front(), '"');
  EXPECT_NE(m.os.back(), '"');
  EXPECT_NE(m.cpu_model.front(), ' ');
}

TEST(MachineInfo, JsonHoldsEveryField) {
  MachineInfo m;
  m.hostname = "h";
  m.cpu_model = "cpu";
  m.logical_cores = 12;
  m.os = "os";
  m.mpi_library = "mpi";
  m.blas = "blas";
  m.compiler = "cc";
  const nlohmann::json j = to_json(m);
  EXPECT_EQ(j.size(), 7u);
  EXPECT_EQ(j.at("hostname"), "h");
  EXPECT_EQ(j.at("cpu_model"), "cpu");
  EXPECT_EQ(j.at("logical_cores"), 12);
  EXPECT_EQ(j.at("os"), "os");
  EXPECT_EQ(j.at("mpi_library"), "mpi");
  EXPECT_EQ(j.at("blas"), "blas");
  EXPECT_EQ(j.at("compiler"), "cc");
}

}  // namespace
}  // namespace tpb
