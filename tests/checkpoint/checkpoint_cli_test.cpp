// Checkpoints end to end on 4 real ranks (`tpbench --nproc 4 train`): a resumed run equals
// the uninterrupted one bit for bit at the same layout (each --dp-shard), and within 1e-5
// at other layouts; every damaged checkpoint is refused with one message naming the file
// or the tensor (exit 2); a kill during a save leaves the previous checkpoint loadable.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "cli/cli_test_util.h"

namespace {

namespace fs = std::filesystem;
using cli_test::kExe;
using cli_test::run;

struct Step {
  int iter;
  double loss, grad_norm;
};

std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// metrics.jsonl of the run whose --json file is `json`.
std::vector<Step> steps_of(const fs::path& json) {
  const nlohmann::json doc = nlohmann::json::parse(slurp(json));
  std::vector<Step> out;
  std::ifstream in(fs::path(doc["run_directory"].get<std::string>()) / "metrics.jsonl");
  for (std::string line; std::getline(in, line);) {
    const nlohmann::json j = nlohmann::json::parse(line);
    if (j.value("rank", 0) != 0) continue;
    out.push_back({j["iter"].get<int>(), j["loss"].get<double>(), j["grad_norm"].get<double>()});
  }
  return out;
}

class Checkpoints : public ::testing::Test {
 protected:
  static fs::path root() { return fs::temp_directory_path() / ("tpb-ckpt-test-" + std::to_string(::getpid())); }
  static void TearDownTestSuite() { fs::remove_all(root()); }

  // `tpbench --nproc 4 train` of the tiny model with `args`, results under root().
  static cli_test::Result train(const std::string& args, const std::string& json = "", const std::string& env = "") {
    std::string cmd = (env.empty() ? "" : "env " + env + " ") + kExe + " --nproc 4 train --preset tiny --no-plots " + args +
                      " --out " + (root() / "out").string();
    if (!json.empty()) cmd += " --json " + (root() / json).string();
    return run(cmd);
  }
  // The uninterrupted run of 8 iterations at tp 2 x dp 2 with --dp-shard `mode`, saving
  // at step 4 and 8 into root()/MODE (made once per mode).
  static const std::vector<Step>& reference(const std::string& mode) {
    static std::map<std::string, std::vector<Step>> runs;
    if (!runs.count(mode)) {
      const cli_test::Result r = train("--tp 2 --dp-shard " + mode + " --iters 8 --save-every 4 --save-dir " +
                                           (root() / mode).string(), "ref-" + mode + ".json");
      EXPECT_EQ(r.status, 0) << r.output;
      runs[mode] = steps_of(root() / ("ref-" + mode + ".json"));
    }
    return runs[mode];
  }
  static std::string step4(const std::string& mode) { return (root() / mode / "step-00000004").string(); }
};

TEST_F(Checkpoints, ResumeAtTheSameLayoutIsBitwiseIdentical) {
  for (const std::string mode : {"none", "optimizer", "full"}) {
    SCOPED_TRACE(mode);
    const std::vector<Step>& ref = reference(mode);
    ASSERT_EQ(ref.size(), 8u);
    const cli_test::Result r = train("--tp 2 --dp-shard " + mode + " --resume " + step4(mode), "same-" + mode + ".json");
    ASSERT_EQ(r.status, 0) << r.output;
    EXPECT_NE(r.output.find("resumed from " + step4(mode) + " (step 4"), std::string::npos) << r.output;
    const std::vector<Step> got = steps_of(root() / ("same-" + mode + ".json"));
    ASSERT_EQ(got.size(), 4u);
    for (size_t i = 0; i < got.size(); ++i) {
      EXPECT_EQ(got[i].iter, ref[4 + i].iter);
      EXPECT_EQ(got[i].loss, ref[4 + i].loss) << "iteration " << got[i].iter;
      EXPECT_EQ(got[i].grad_norm, ref[4 + i].grad_norm) << "iteration " << got[i].iter;
    }
  }
}

TEST_F(Checkpoints, ResumeAtAnotherLayoutContinuesTheSameTraining) {
  const std::vector<Step>& ref = reference("full");  // saved at tp 2 x dp 2, FSDP
  ASSERT_EQ(ref.size(), 8u);
  int n = 0;
  // From step 4, at each other layout, against the uninterrupted run's steps 5..8.
  for (const std::string layout : {"--tp 4", "--tp 1", "--tp 1 --dp-shard full", "--tp 2 --sp --dp-shard optimizer"}) {
    SCOPED_TRACE(layout);
    const std::string json = "other4-" + std::to_string(n++) + ".json";
    const cli_test::Result r = train(layout + " --resume " + step4("full"), json);
    ASSERT_EQ(r.status, 0) << r.output;
    const std::vector<Step> got = steps_of(root() / json);
    ASSERT_EQ(got.size(), 4u);
    for (size_t i = 0; i < got.size(); ++i) {
      EXPECT_EQ(got[i].iter, ref[4 + i].iter);
      EXPECT_NEAR(got[i].loss, ref[4 + i].loss, 1e-5 * std::abs(ref[4 + i].loss)) << "iteration " << got[i].iter;
      EXPECT_NEAR(got[i].grad_norm, ref[4 + i].grad_norm, 1e-5 * std::abs(ref[4 + i].grad_norm))
          << "iteration " << got[i].iter;
    }
  }
}

// A copy of the FSDP run's step-4 checkpoint to damage.
fs::path damaged_copy(const fs::path& from, const fs::path& to) {
  fs::remove_all(to);
  fs::create_directories(to.parent_path());
  fs::copy(from, to, fs::copy_options::recursive);
  return to;
}

TEST_F(Checkpoints, ATruncatedShardFileIsRefusedNamingIt) {
  reference("full");
  const fs::path d = damaged_copy(step4("full"), root() / "truncated" / "step-00000004");
  const fs::path shard = d / "rank-00001.bin";
  fs::resize_file(shard, fs::file_size(shard) - 8);
  const cli_test::Result r = train("--tp 2 --dp-shard full --resume " + d.string());
  EXPECT_EQ(r.status, 2) << r.output;
  EXPECT_NE(r.output.find(shard.string()), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("truncated"), std::string::npos) << r.output;
  EXPECT_EQ(cli_test::count(r.output, "error:"), 1) << r.output;
}

TEST_F(Checkpoints, ACorruptedShardFileIsRefusedNamingTheFileAndTheTensor) {
  reference("full");
  const fs::path d = damaged_copy(step4("full"), root() / "corrupt" / "step-00000004");
  const fs::path shard = d / "rank-00002.bin";
  {
    std::fstream f(shard, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(100);
    f.put('\x7f');
  }
  // At the same layout (rank 2 reads the block for the embedding at byte 100; rank 3 reads
  // it too, for the norm weights: the lowest rank's error is printed) and at another (tp 4:
  // ranks 0 and 1 read parts of it).
  for (const std::string layout : {"--tp 2 --dp-shard full", "--tp 4"}) {
    SCOPED_TRACE(layout);
    const cli_test::Result r = train(layout + " --resume " + d.string());
    EXPECT_EQ(r.status, 2) << r.output;
    EXPECT_NE(r.output.find(shard.string() + ": block 0"), std::string::npos) << r.output;
    EXPECT_NE(r.output.find("CRC-32"), std::string::npos) << r.output;
    EXPECT_NE(r.output.find(layout == "--tp 4" ? "holding " : "holding tok_embeddings"), std::string::npos) << r.output;
    EXPECT_NE(r.output.find("nothing was trained"), std::string::npos) << r.output;
    EXPECT_EQ(cli_test::count(r.output, "error:"), 1) << r.output;
  }
}

TEST_F(Checkpoints, ACheckpointOfAnotherModelShapeIsRefusedNamingTheTensor) {
  reference("full");
  // A size given that differs from the checkpoint's model.
  cli_test::Result r = train("--tp 2 --resume " + step4("full") + " --dim 64");
  EXPECT_EQ(r.status, 2) << r.output;
  EXPECT_NE(r.output.find("--dim 64 differs from the checkpoint's 32"), std::string::npos) << r.output;
  // A checkpoint whose tensor has another shape than its model says.
  const fs::path d = damaged_copy(step4("full"), root() / "shape" / "step-00000004");
  nlohmann::json meta = nlohmann::json::parse(slurp(d / "metadata.json"));
  meta["tensors"]["layers.1.attention.wq"]["shape"] = {16, 32};
  std::ofstream(d / "metadata.json") << meta.dump();
  r = train("--tp 2 --resume " + d.string());
  EXPECT_EQ(r.status, 2) << r.output;
  EXPECT_NE(r.output.find("tensor layers.1.attention.wq is 16 x 32, this model's is 32 x 32"), std::string::npos)
      << r.output;
}

TEST_F(Checkpoints, AKillDuringASaveLeavesThePreviousCheckpointLoadable) {
  const fs::path d = root() / "killed";
  cli_test::Result r = train("--tp 2 --dp-shard full --iters 4 --save-dir " + d.string());
  ASSERT_EQ(r.status, 0) << r.output;
  ASSERT_EQ(slurp(d / "latest"), "step-00000004\n");
  // Resume into the same directory; rank 0 dies with every shard of step 6 written, before its metadata.
  r = train("--tp 2 --dp-shard full --iters 6 --resume " + d.string() + " --save-dir " + d.string(), "",
            "TPB_TEST_FAULT=checkpoint-kill-before-metadata");
  EXPECT_NE(r.status, 0) << r.output;
  EXPECT_FALSE(fs::exists(d / "step-00000006"));
  EXPECT_EQ(slurp(d / "latest"), "step-00000004\n");
  fs::path partial;
  for (const auto& e : fs::directory_iterator(d))
    if (e.path().filename().string().starts_with(".tmp-step-00000006")) partial = e.path();
  ASSERT_FALSE(partial.empty()) << "the killed save's temporary directory";
  EXPECT_TRUE(fs::exists(partial / "rank-00000.bin"));
  // The half-written one is refused; the save directory resumes from step 4.
  r = train("--tp 2 --dp-shard full --iters 6 --resume " + partial.string());
  EXPECT_EQ(r.status, 2) << r.output;
  EXPECT_NE(r.output.find("is not a checkpoint"), std::string::npos) << r.output;
  r = train("--tp 4 --iters 6 --resume " + d.string());
  EXPECT_EQ(r.status, 0) << r.output;
  EXPECT_NE(r.output.find("resumed from " + (d / "step-00000004").string()), std::string::npos) << r.output;
}

TEST_F(Checkpoints, ARunNeverOverwritesAnotherRunsCheckpoint) {
  reference("none");
  const cli_test::Result r = train("--tp 2 --iters 8 --save-every 4 --save-dir " + (root() / "none").string());
  EXPECT_EQ(r.status, 2) << r.output;
  EXPECT_NE(r.output.find("step-00000004 exists already"), std::string::npos) << r.output;
  EXPECT_EQ(cli_test::count(r.output, "error:"), 1) << r.output;
}

TEST_F(Checkpoints, ResumeWithNothingLeftToTrainIsRefused) {
  reference("none");
  const cli_test::Result r = train("--tp 2 --resume " + (root() / "none").string());  // latest: step 8 of 8
  EXPECT_EQ(r.status, 2) << r.output;
  EXPECT_NE(r.output.find("is at step 8 and --iters is 8"), std::string::npos) << r.output;
}

TEST_F(Checkpoints, ARunStoppedBySigtermSavesWhereItStopped) {
  // SIGTERM to the launcher after 4 s: the ranks stop at the next step boundary (exit 143)
  // and save that step; the checkpoint resumes.
  const fs::path d = root() / "sigterm";
  const cli_test::Result r = run("timeout --preserve-status -s TERM 4 " + kExe + " --nproc 4 train --preset tiny --no-plots --tp 2 "
                                 "--iters 1000000 --log-every 1000000 --save-dir " + d.string() + " --out " +
                                 (root() / "out").string());
  EXPECT_EQ(r.status, 143) << r.output;
  ASSERT_TRUE(fs::exists(d / "latest")) << r.output;
  const std::string latest = slurp(d / "latest");
  ASSERT_TRUE(latest.starts_with("step-")) << latest;
  const int step = std::stoi(latest.substr(5));
  EXPECT_GT(step, 0);
  EXPECT_NE(r.output.find("checkpoint " + (d / latest.substr(0, latest.size() - 1)).string()), std::string::npos)
      << r.output;
  const cli_test::Result resumed = train("--tp 4 --iters " + std::to_string(step + 2) + " --resume " + d.string());
  EXPECT_EQ(resumed.status, 0) << resumed.output;
  EXPECT_NE(resumed.output.find("(step " + std::to_string(step) + ","), std::string::npos) << resumed.output;
}

}  // namespace
