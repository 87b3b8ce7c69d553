// Runs the real tpbench binary as a user would, under a time limit, and checks its output
// and exit status.
#include <gtest/gtest.h>
#include <sched.h>
#include <sys/wait.h>

#include <array>
#include <cstdio>
#include <string>

#include "base/clock.h"
#include "cli_test_util.h"

namespace {

using cli_test::count;
using cli_test::kExe;
using cli_test::Result;
using cli_test::run;

TEST(Cli, MeshPrintsGroupsThenOneLinePerRank) {
  const Result r = run(kExe + " --nproc 4 mesh --tp 2");
  ASSERT_EQ(r.status, 0) << r.output;
  EXPECT_EQ(r.output,
            "[[0, 1], [2, 3]]\n"
            "[rank 0/4] [tp:0/2][dp:0/2]\n"
            "[rank 1/4] [tp:1/2][dp:0/2]\n"
            "[rank 2/4] [tp:0/2][dp:1/2]\n"
            "[rank 3/4] [tp:1/2][dp:1/2]\n");
}

TEST(Cli, MeshUnderMpirunAndWithoutLauncher) {
  const Result a = run(std::string(TPB_MPIRUN) + " -np 2 --oversubscribe " + kExe + " mesh --tp 1");
  ASSERT_EQ(a.status, 0) << a.output;
  EXPECT_EQ(a.output, "[[0], [1]]\n[rank 0/2] [tp:0/1][dp:0/2]\n[rank 1/2] [tp:0/1][dp:1/2]\n");
  const Result b = run(kExe + " mesh");
  ASSERT_EQ(b.status, 0) << b.output;
  EXPECT_EQ(b.output, "[[0]]\n[rank 0/1] [tp:0/1][dp:0/1]\n");
}

struct BadInput {
  std::string args;  // the whole command line
  std::string message;  // must appear exactly once
};

void PrintTo(const BadInput& b, std::ostream* os) { *os << b.args; }

class CliBadInput : public ::testing::TestWithParam<BadInput> {};

TEST_P(CliBadInput, ExitsNonZeroFastWithOneMessage) {
  const Result r = run(GetParam().args);
  EXPECT_NE(r.status, 0) << r.output;
  EXPECT_NE(r.status, 124) << "timed out (a rank hung): " << r.output;
  EXPECT_LT(r.seconds, 10.0) << r.output;
  EXPECT_EQ(count(r.output, GetParam().message), 1) << r.output;
}

INSTANTIATE_TEST_SUITE_P(
    Launcher, CliBadInput,
    ::testing::Values(
        BadInput{kExe + " " + "--nproc 4 mesh --tp 3", "--tp 3 does not divide the world size 4"},
        BadInput{kExe + " " + "--nproc 2 mesh --tp 4", "--tp 4 is larger than the world size 2"},
        BadInput{kExe + " " + "--nproc 2 mesh --tp 0", "--tp must be >= 1, got 0"},
        BadInput{kExe + " " + "--nproc 2 mesh --tp -3", "--tp must be >= 1, got -3"},
        BadInput{kExe + " " + "--nproc 0 mesh", "--nproc: Value 0 not in range"},
        BadInput{kExe + " " + "--nproc 2 frobnicate", "unknown command 'frobnicate'"},
        BadInput{kExe + " " + "mesh --bogus 1", "--bogus"},
        BadInput{kExe + " " + "mesh --tp two", "--tp = two"},
        BadInput{kExe + " --nproc 2 linear --in-features 0", "--in-features must be > 0, got 0"},
        BadInput{kExe + " --nproc 2 linear --batch -5", "--batch must be > 0, got -5"},
        BadInput{kExe + " --nproc 2 linear --iters 0", "--iters must be > 0, got 0"},
        BadInput{kExe + " --nproc 4 linear --mode row --out-features 3",
                 "3 features cannot give every rank one"},
        BadInput{kExe + " --nproc 2 linear --mode diagonal", "diagonal"},
        BadInput{kExe + " --nproc 2 comm -b 1K -e 8", "-b/--min-bytes 1K is larger than -e/--max-bytes 8"},
        BadInput{kExe + " --nproc 2 comm -f 1", "-f/--step-factor must be >= 2, got 1"},
        BadInput{kExe + " --nproc 2 comm -b 12X", "-b/--min-bytes 12X is not a size"},
        BadInput{kExe + " --nproc 4 comm --tp 3", "--tp 3 does not divide the world size 4"},
        BadInput{kExe + " --nproc 2 comm --op all_scatter", "--op all_scatter is not one of"},
        BadInput{kExe + " --nproc 2 comm --dtype fp16", "--dtype fp16 is not one of fp32|bf16"},
        BadInput{kExe + " --nproc 2 train --dtype bf16", "--dtype bf16 needs --device cuda"},
        BadInput{kExe + " --nproc 2 train --device tpu", "tpu"},
        BadInput{kExe + " --nproc 2 train --device cuda --dtype bf16 --dp-shard full",
                 "--dtype bf16 with --dp-shard full is not supported"},
        BadInput{kExe + " --nproc 2 devices", "devices runs as one process"},
        BadInput{kExe + " --nproc 2 train --tp 2 --sp --seq 33", "--sp: --seq 33 is not divisible by --tp 2"}));

// Under the user's own mpirun every rank validates; rank 0 alone prints.
INSTANTIATE_TEST_SUITE_P(
    Mpirun, CliBadInput,
    ::testing::Values(
        BadInput{std::string(TPB_MPIRUN) + " -np 3 --oversubscribe " + kExe + " mesh --tp 2",
                 "--tp 2 does not divide the world size 3"},
        BadInput{std::string(TPB_MPIRUN) + " -np 2 --oversubscribe " + kExe + " --nproc 4 mesh",
                 "--nproc 4 but the launcher started 2 ranks"},
        BadInput{std::string(TPB_MPIRUN) + " -np 2 --oversubscribe " + kExe + " mesh --tp",
                 "--tp"},
        BadInput{std::string(TPB_MPIRUN) + " -np 4 --oversubscribe " + kExe + " train --tp 2 --vocab 4097",
                 "--tp 2 does not divide --vocab 4097"},
        BadInput{std::string(TPB_MPIRUN) + " -np 4 --oversubscribe " + kExe + " train --tp 4 --sp --seq 250",
                 "--sp: --seq 250 is not divisible by --tp 4"}));

// `devices` says what this binary and machine can compute on; without a usable GPU,
// --device cuda is one clear message before any rank starts (launcher or user mpirun).
TEST(Cli, DevicesAndDeviceCudaWithoutGpu) {
  const Result d = run(kExe + " devices");
  ASSERT_EQ(d.status, 0) << d.output;
  EXPECT_EQ(count(d.output, "cpu: yes\n"), 1) << d.output;
  EXPECT_EQ(count(d.output, "cuda: "), 1) << d.output;
  if (d.output.find("GPU(s)") != std::string::npos) GTEST_SKIP() << "this machine has a GPU: " << d.output;
  const Result req = run(kExe + " devices --require-gpu");
  EXPECT_EQ(req.status, 1) << req.output;
  for (const std::string& cmd : {kExe + " --nproc 2 train --device cuda --preset tiny",
                                 std::string(TPB_MPIRUN) + " -np 2 --oversubscribe " + kExe + " linear --device cuda",
                                 kExe + " --nproc 2 comm --device cuda", kExe + " mesh --device cuda"}) {
    const Result r = run(cmd);
    EXPECT_NE(r.status, 0) << cmd << "\n" << r.output;
    EXPECT_LT(r.seconds, 10.0) << cmd << "\n" << r.output;
    EXPECT_EQ(count(r.output, "--device cuda: no CUDA device"), 1) << cmd << "\n" << r.output;
  }
}

// Cores this test may run on, counted as the launcher counts them.
int cores() {
  cpu_set_t set;
  CPU_ZERO(&set);
  return sched_getaffinity(0, sizeof(set), &set) == 0 ? CPU_COUNT(&set) : 1;
}

// A rank count the machine cannot hold is refused before any rank starts: one line, exit 2.
TEST(Cli, TooManyRanksAreRefusedBeforeLaunch) {
  if (cores() * 8 >= 1000) GTEST_SKIP() << cores() << " cores may take 1000 ranks";
  const Result r = run(kExe + " --nproc 1000 mesh");
  EXPECT_EQ(r.status, 2) << r.output;
  EXPECT_LT(r.seconds, 10.0) << r.output;
  EXPECT_EQ(count(r.output, "tpbench mesh: error: --nproc 1000 would overload this machine: "), 1) << r.output;
  EXPECT_EQ(count(r.output, "add --force-nproc to launch them anyway"), 1) << r.output;
  EXPECT_EQ(count(r.output, "\n"), 1) << "more than the one line (did ranks start?): " << r.output;
}

// --force-nproc takes a count beyond the cores' limit past that check. `--device cuda` on a
// machine without a GPU stops right after it, so nothing is launched either way.
TEST(Cli, ForceNprocLetsOversubscriptionThrough) {
  const Result d = run(kExe + " devices");
  if (d.output.find("GPU(s)") != std::string::npos) GTEST_SKIP() << "this machine has a GPU: " << d.output;
  const std::string n = std::to_string(cores() * 8 + 1);
  const Result refused = run(kExe + " --nproc " + n + " mesh --device cuda");
  EXPECT_EQ(refused.status, 2) << refused.output;
  EXPECT_EQ(count(refused.output, "--nproc " + n + " would overload this machine"), 1) << refused.output;
  EXPECT_EQ(count(refused.output, "no CUDA device"), 0) << refused.output;
  const Result forced = run(kExe + " --nproc " + n + " --force-nproc mesh --device cuda");
  EXPECT_EQ(forced.status, 2) << forced.output;
  EXPECT_LT(forced.seconds, 10.0) << forced.output;
  EXPECT_EQ(count(forced.output, "would overload"), 0) << forced.output;
  EXPECT_EQ(count(forced.output, "--device cuda: no CUDA device"), 1) << forced.output;
  // And for real, where that is few ranks (17 on 2 cores: about 2 s and 0.5 GiB).
  if (cores() > 4) return;
  const Result ran = run(kExe + " --nproc " + n + " --force-nproc mesh");
  ASSERT_EQ(ran.status, 0) << ran.output;
  EXPECT_EQ(count(ran.output, "[rank "), cores() * 8 + 1) << ran.output;
}

}  // namespace
