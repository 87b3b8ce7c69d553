// Bad input to the real tpbench binary: every numeric flag of every command, driven with
// values outside the range it registered (cli/flag_ranges.h), and the cases of issue 14
// (values that meant something else, size products that wrapped, combinations that did
// nothing, a run that cannot fit in memory). Each is refused before anything starts: exit
// 2, exactly one line naming the flag and the value, well under 10 s.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <array>
#include <cstdio>
#include <fstream>
#include <set>
#include <string>

#include "base/clock.h"
#include "cli_test_util.h"
#include "cli/command.h"
#include "cli/flag_ranges.h"

namespace {

using cli_test::count;
using cli_test::kExe;
using cli_test::Result;
using cli_test::run;

// The app main() builds: every command's flags (which records their ranges), plus tpbench's
// own --nproc as main records it.
struct Commands {
  CLI::App app{"test", "tpbench"};
  std::vector<std::unique_ptr<tpb::Command>> commands = tpb::make_commands();
  Commands() {
    tpb::record_range(tpb::range::ints(1, tpb::kMaxRanks), "--nproc");
    for (auto& c : commands) c->add_flags(*app.add_subcommand(c->name(), c->description()));
  }
};

Commands& commands() {
  static Commands c;
  return c;
}

std::string long_name(const std::string& flag) { return flag.substr(flag.rfind('/') + 1); }

// A refusal: exit 2, fast, one line, naming what it must.
void expect_refused(const std::string& args, const std::vector<std::string>& names) {
  const Result r = run(kExe + " " + args);
  EXPECT_EQ(r.status, 2) << args << "\n" << r.output;
  EXPECT_LT(r.seconds, 10.0) << args << "\n" << r.output;
  EXPECT_EQ(count(r.output, "\n"), 1) << "not one line (did something start?): " << args << "\n" << r.output;
  EXPECT_EQ(count(r.output, "error: "), 1) << args << "\n" << r.output;
  for (const std::string& n : names) EXPECT_GE(count(r.output, n), 1) << "'" << n << "' not named: " << args << "\n" << r.output;
}

// No numeric option is added without a range: a new one fails here until it uses add_ranged.
TEST(FlagRanges, EveryNumericOptionOfEveryCommandHasARange) {
  Commands& c = commands();
  std::set<std::pair<std::string, std::string>> ranged;
  for (const tpb::FlagRange& r : tpb::flag_ranges()) ranged.insert({r.command, long_name(r.flag)});
  int numeric = 0;
  for (const CLI::App* sub : c.app.get_subcommands([](const CLI::App*) { return true; }))
    for (const CLI::Option* opt : sub->get_options()) {
      if (opt->get_type_size() == 0 || opt->get_lnames().empty()) continue;  // flags, positionals
      const std::string type = opt->get_type_name();
      if (type.rfind("INT", 0) != 0 && type.rfind("UINT", 0) != 0 && type.rfind("FLOAT", 0) != 0) continue;
      ++numeric;
      const std::string flag = "--" + opt->get_lnames().front();
      EXPECT_EQ(ranged.count({sub->get_name(), flag}), 1u)
          << "tpbench " << sub->get_name() << " " << flag << " (" << type << ") has no range: add it with add_ranged()";
    }
  EXPECT_GT(numeric, 20) << "the commands' numeric options were not found";
  // And the binary lists the same ranges as the library.
  const Result listed = run(kExe + " --list-flag-ranges");
  ASSERT_EQ(listed.status, 0) << listed.output;
  EXPECT_EQ(listed.output, tpb::format_flag_ranges());
}

// Every registered range, driven through the binary with values outside it.
TEST(FlagRanges, EveryRangedFlagRefusesValuesOutsideIt) {
  commands();
  int cases = 0;
  for (const tpb::FlagRange& r : tpb::flag_ranges())
    for (const std::string& bad : r.bad_values()) {
      const std::string flag = long_name(r.flag);
      const std::string args =
          r.command.empty() ? flag + " " + bad + " mesh" : r.command + " " + flag + " " + bad;
      expect_refused(args, {flag, bad});
      ++cases;
    }
  EXPECT_GT(cases, 80);
}

struct BadInput {
  std::string args;     // after the executable
  std::string message;  // must appear exactly once
};
void PrintTo(const BadInput& b, std::ostream* os) { *os << b.args; }

class Issue14 : public ::testing::TestWithParam<BadInput> {};

TEST_P(Issue14, RefusedWithOneMessageAndExit2) {
  const Result r = run(kExe + " " + GetParam().args);
  EXPECT_EQ(r.status, 2) << r.output;
  EXPECT_LT(r.seconds, 10.0) << r.output;
  EXPECT_EQ(count(r.output, "\n"), 1) << "not one line (did something start?): " << r.output;
  EXPECT_EQ(count(r.output, GetParam().message), 1) << r.output;
}

INSTANTIATE_TEST_SUITE_P(
    Values, Issue14,
    ::testing::Values(
        // -1 no longer means "the preset's"; 0 no longer means "the default lr".
        BadInput{"train --seq -1", "--seq must be > 0, got -1"},
        BadInput{"train --dim -1", "--dim must be > 0, got -1"},
        BadInput{"train --lr-warmup -1", "--lr-warmup must be >= 0, got -1"},
        BadInput{"train --lr 0", "--lr must be > 0, got 0"},
        BadInput{"train --lr inf", "--lr must be a finite number, got inf"},
        BadInput{"train --weight-decay nan", "--weight-decay must be a finite number, got nan"},
        BadInput{"train --bucket-mb nan", "--bucket-mb must be a finite number, got nan"},
        BadInput{"train --grad-clip -1", "--grad-clip must be >= 0, got -1"},
        BadInput{"train --grad-clip nan", "--grad-clip must be a finite number, got nan"},
        BadInput{"train --seed -1", "--seed must be >= 0, got -1"},
        BadInput{"train --seed 18446744073709551616", "--seed must be <= 9223372036854775807"},
        BadInput{"comm -c 2", "-c/--check must be <= 1, got 2"},
        BadInput{"--nproc 2 comm -r 1", "-r/--root 1 has no effect: only broadcast has a root"}));

INSTANTIATE_TEST_SUITE_P(
    Combinations, Issue14,
    ::testing::Values(
        BadInput{"train --dp-shard full --dp-overlap", "--dp-overlap has no effect with --dp-shard full"},
        BadInput{"train --dp-shard none --prefetch off", "--prefetch off has no effect with --dp-shard none"},
        BadInput{"train --dp-shard optimizer --bucket-mb 4", "--bucket-mb 4 has no effect with --dp-shard optimizer"},
        BadInput{"train --async-comm", "--async-comm needs --device cuda"},
        BadInput{"train --dry-run --json x.json", "--json has no effect with --dry-run"}));

INSTANTIATE_TEST_SUITE_P(
    Sizes, Issue14,
    ::testing::Values(
        BadInput{"linear --in-features 4294967296 --out-features 4294967296",
                 "--out-features 4294967296 x --in-features 4294967296 is more than the 1099511627776 elements"},
        BadInput{"linear --out-features 4611686018427387904", "--out-features must be <= 1099511627776"},
        BadInput{"linear --batch 1099511627776 --in-features 2", "--batch 1099511627776 x --in-features 2 is more"},
        BadInput{"train --dim 72057594037927936", "--dim must be <= 1048576"},
        BadInput{"train --dim 1048576 --vocab 2097152", "--vocab 2097152 x --dim 1048576 is more than"},
        BadInput{"train --dim 1048576 --ffn-hidden 2097152", "--ffn-hidden 2097152 x --dim 1048576 is more than"},
        BadInput{"train --preset tiny --batch 16777216 --seq 16777216", "elements one activation tensor may have"},
        BadInput{"comm -e 16G", "-e/--max-bytes must be <= 8G, got 16G"},
        BadInput{"comm -e 99999999999999999999", "-e/--max-bytes must be <= 8G"}));

INSTANTIATE_TEST_SUITE_P(
    Usage, Issue14,
    ::testing::Values(BadInput{"train --out ''", "--out is empty: give a path"},
                      BadInput{"linear --out ''", "--out is empty: give a path"},
                      BadInput{"train --json ''", "--json is empty: give a path"},
                      BadInput{"train --run-name ../../..", "--run-name '../../..' must be one directory name"},
                      BadInput{"train --run-name a/b", "--run-name 'a/b' must be one directory name"},
                      BadInput{"train --run-name ..", "--run-name '..' must be one directory name"},
                      BadInput{"mesh --bogus 1", "--bogus"}, BadInput{"mesh --tp two", "--tp = two"},
                      BadInput{"--nproc 0 mesh", "--nproc: Value 0 not in range"},
                      BadInput{"train --preset", "--preset"},
                      BadInput{"--nproc 2 frobnicate", "unknown command 'frobnicate'"}));

// A run whose ranks would not fit in this machine's memory (predicted ~560 GiB a rank).
TEST(Issue14Memory, RunBeyondTheMachinesMemoryIsRefusedUnlessForced) {
  for (const std::string nproc : {"", "--nproc 2 "}) {
    const Result r = run(kExe + " " + nproc + "train --preset tiny --seq 100000 --batch 1000");
    EXPECT_EQ(r.status, 2) << r.output;
    EXPECT_LT(r.seconds, 10.0) << r.output;
    EXPECT_EQ(count(r.output, "\n"), 1) << r.output;
    EXPECT_EQ(count(r.output, "GiB available on this machine (MemAvailable)"), 1) << r.output;
    EXPECT_EQ(count(r.output, nproc.empty() ? "(1 rank x " : "(2 ranks x "), 1) << r.output;
    EXPECT_EQ(count(r.output, "--force-memory"), 1) << r.output;
  }
  // Forced, it goes on to the next check (here: a data file that does not exist), so
  // nothing is launched either way.
  const Result forced = run(kExe + " train --preset tiny --seq 100000 --batch 1000 --force-memory --data tokens "
                                   "--data-path /nonexistent/tokens.bin");
  EXPECT_EQ(forced.status, 2) << forced.output;
  EXPECT_EQ(count(forced.output, "MemAvailable"), 0) << forced.output;
  EXPECT_EQ(count(forced.output, "/nonexistent/tokens.bin"), 1) << forced.output;
  // The dry run plans without the check (it is how one sizes a run for a bigger machine),
  // and says whether the run would fit: here not; the tiny preset's default does.
  const Result dry = run(kExe + " train --preset tiny --seq 100000 --batch 1000 --dry-run");
  EXPECT_EQ(dry.status, 0) << dry.output;
  EXPECT_EQ(count(dry.output, "fits this machine: NO (1 rank x "), 1) << dry.output;
  EXPECT_EQ(count(dry.output, "; train would refuse it"), 1) << dry.output;
  const Result small = run(kExe + " --nproc 2 train --preset tiny --dry-run");
  EXPECT_EQ(small.status, 0) << small.output;
  EXPECT_EQ(count(small.output, "fits this machine: yes (2 ranks x "), 1) << small.output;
}

// A flag the user gave replaces the preset's value (the dry run prints the model).
TEST(Issue14Values, GivenSizesReplaceThePresets) {
  const Result r = run(kExe + " train --preset tiny --seq 24 --dim 64 --dry-run");
  ASSERT_EQ(r.status, 0) << r.output;
  EXPECT_EQ(count(r.output, "(48 tokens:"), 1) << r.output;  // tiny's batch 2 x --seq 24
  EXPECT_EQ(count(r.output, "tok_embeddings                     full (    64,     64)"), 1) << r.output;
}

TEST(Issue14Usage, VersionAndHelpExitZero) {
  const Result v = run(kExe + " --version");
  EXPECT_EQ(v.status, 0) << v.output;
  EXPECT_EQ(v.output.rfind("tpbench " TPB_VERSION, 0), 0u) << v.output;
  EXPECT_EQ(count(v.output, "\n"), 1) << v.output;
  const Result h = run(kExe + " train --help");
  EXPECT_EQ(h.status, 0) << h.output;
  EXPECT_GE(count(h.output, "--force-memory"), 1) << h.output;
}

// Launching without mpirun on PATH: one clear line, not Open MPI's plm_rsh_agent message.
TEST(Issue14Usage, NoMpirunOnPath) {
  const Result r = run("env PATH=/nonexistent " + kExe + " --nproc 2 mesh");
  EXPECT_EQ(r.status, 2) << r.output;
  EXPECT_EQ(count(r.output, "\n"), 1) << r.output;
  EXPECT_EQ(count(r.output, "mpirun not found on PATH (install openmpi-bin"), 1) << r.output;
}

// The token-file format flag is named as the user typed it.
TEST(Issue14Usage, DataDtypeMessageNamesTheRealFlag) {
  const std::string path = testing::TempDir() + "/not_llmc.bin";
  {
    std::ofstream f(path, std::ios::binary);
    for (int i = 0; i < 4096; ++i) f.put(static_cast<char>(i * 7));
  }
  const Result r = run(kExe + " train --preset tiny --data tokens --data-dtype llmc --data-path " + path);
  EXPECT_EQ(r.status, 2) << r.output;
  EXPECT_EQ(count(r.output, "\n"), 1) << r.output;
  EXPECT_EQ(count(r.output, "--token-dtype"), 0) << r.output;
  EXPECT_GE(count(r.output, "--data-dtype"), 1) << r.output;
}

}  // namespace
