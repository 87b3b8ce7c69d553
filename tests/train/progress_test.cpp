// The in-step progress of `train` (profile/step_progress.h, train/progress_ticker.h):
// the position the model announces at each unit, the fraction of the step's work it
// stands for against its closed form, and the ETA arithmetic of the progress line.
#include <gtest/gtest.h>

#include <fmt/format.h>

#include <cstdio>
#include <string>
#include <thread>
#include <vector>

#include "comm/mpi/mpi_communicator.h"
#include "model/transformer.h"
#include "train/progress_ticker.h"

namespace tpb {
namespace {

using step_progress::Phase;
using step_progress::Position;

// The tiny preset with a third block, so that "block 2 of 3" has a block on either side.
ModelConfig tiny() {
  ModelConfig c = model_preset("tiny");
  c.n_layers = 3;
  return c;
}

// Records, at each unit the model begins, the position the progress thread would read.
class PositionRecorder : public UnitHooks {
 public:
  std::vector<std::pair<int, bool>> units;
  std::vector<Position> seen;
  void before_unit(int unit, bool backward) override {
    units.emplace_back(unit, backward);
    seen.push_back(step_progress::current());
  }
};

void expect_walk(bool recompute) {
  auto world = MpiCommunicator::world();
  const ModelConfig c = tiny();
  ModelParams p(c);
  TransformerActivations a = make_transformer_activations(c, p.local(), 2, recompute, {}, 0);
  for (int64_t i = 0; i < a.tokens.numel(); ++i) {
    a.tokens.i32()[i] = static_cast<int32_t>(i % c.vocab);
    a.targets.i32()[i] = static_cast<int32_t>((i + 1) % c.vocab);
  }
  PositionRecorder rec;
  step_progress::enter(Phase::idle);
  transformer_forward_pass(a, p, *world, nullptr, &rec);
  transformer_backward(a, p, *world, nullptr, &rec);
  // Forward: the embedding, each block, the head; backward: the head, the blocks from the
  // top, the embedding. At each, the position names that unit and phase.
  const int L = static_cast<int>(c.n_layers);
  std::vector<std::pair<int, bool>> expected;
  for (int u = 0; u <= L + 1; ++u) expected.emplace_back(u, false);
  for (int u = L + 1; u >= 0; --u) expected.emplace_back(u, true);
  ASSERT_EQ(rec.units, expected);
  const step_progress::StepWork w = step_work_of(c, recompute);
  double last = -1;
  for (size_t i = 0; i < rec.seen.size(); ++i) {
    EXPECT_EQ(rec.seen[i].unit, expected[i].first) << i;
    EXPECT_EQ(rec.seen[i].phase, expected[i].second ? Phase::backward : Phase::forward) << i;
    const double f = step_progress::fraction_done(w, rec.seen[i]);
    EXPECT_GE(f, last) << "the fraction of the step never goes back, at " << i;
    last = f;
  }
}

TEST(StepProgress, TheModelAnnouncesEveryUnitInOrder) { expect_walk(false); }
TEST(StepProgress, TheModelAnnouncesEveryUnitInOrderWithRecompute) { expect_walk(true); }

TEST(StepProgress, FractionOfTheStepMatchesItsClosedForm) {
  // Block forward b = 2 x 700,416 + 4 x 2048 x 256, head h = 2 x 32000 x 256 (the
  // ezpz-fsdp-tp preset at seq 2048): step = L b + 3 h + L k b, k = 2 (3 with recompute).
  const ModelConfig m = model_preset("ezpz-fsdp-tp");
  const double b = 2.0 * 700416 + 4.0 * 2048 * 256, h = 2.0 * 32000 * 256;
  for (const bool recompute : {false, true}) {
    const step_progress::StepWork w = step_work_of(m, recompute);
    EXPECT_DOUBLE_EQ(w.block, b);
    EXPECT_DOUBLE_EQ(w.head, h);
    const double k = recompute ? 3 : 2, total = 8 * b + 3 * h + 8 * k * b;
    EXPECT_DOUBLE_EQ(step_progress::fraction_done(w, {Phase::idle, 0}), 0);
    EXPECT_DOUBLE_EQ(step_progress::fraction_done(w, {Phase::forward, 0}), 0);
    EXPECT_DOUBLE_EQ(step_progress::fraction_done(w, {Phase::forward, 3}), 2 * b / total);  // blocks 1, 2 done
    EXPECT_DOUBLE_EQ(step_progress::fraction_done(w, {Phase::forward, 9}), 8 * b / total);  // the head
    EXPECT_DOUBLE_EQ(step_progress::fraction_done(w, {Phase::backward, 9}), (8 * b + 3 * h) / total);
    EXPECT_DOUBLE_EQ(step_progress::fraction_done(w, {Phase::backward, 6}), (8 * b + 3 * h + 2 * k * b) / total);
    EXPECT_DOUBLE_EQ(step_progress::fraction_done(w, {Phase::backward, 0}), 0.999);  // all but the embedding: capped
    EXPECT_DOUBLE_EQ(step_progress::fraction_done(w, {Phase::optimizer, 0}), 0.999);
  }
}

TEST(StepProgress, DescribesWhereTheStepIs) {
  const step_progress::StepWork w = step_work_of(tiny(), false);
  EXPECT_EQ(step_progress::describe(w, {Phase::forward, 0}), "forward, embedding");
  EXPECT_EQ(step_progress::describe(w, {Phase::forward, 2}), "forward, block 2 of 3");
  EXPECT_EQ(step_progress::describe(w, {Phase::backward, 4}), "backward, loss head");
  EXPECT_EQ(step_progress::describe(w, {Phase::optimizer, 0}), "optimizer");
}

TEST(ProgressLine, EtaFromThePreviousStep) {
  const step_progress::StepWork w = step_work_of(tiny(), false);
  // 30 s into iteration 2 of 5, the previous step took 100 s: 70 s of this one and 3 x 100
  // of the others are left.
  EXPECT_EQ(in_step_progress_line(1, 5, 30, 100, w, {Phase::backward, 2}),
            "... iter 2/5  30 s into the step: backward, block 2 of 3 (rank 0); ETA step 1m10s, run 6m10s");
  // A step already longer than the last: none of it counted as left, the rest at its length.
  EXPECT_EQ(in_step_progress_line(3, 5, 130, 100, w, {Phase::optimizer, 0}),
            "... iter 4/5  2m10s into the step: optimizer (rank 0); ETA step 0.0 s, run 2m10s");
}

TEST(ProgressLine, EtaOfTheFirstStepFromItsWork) {
  ModelConfig m = tiny();
  const step_progress::StepWork w = step_work_of(m, false);
  // Forward done, 60 s in: the step is 60 / f long.
  const Position p{Phase::backward, static_cast<int>(m.n_layers) + 1};
  const double f = step_progress::fraction_done(w, p);
  ASSERT_GT(f, 0.2);
  const double step = 60 / f;
  const std::string line = in_step_progress_line(0, 3, 60, 0, w, p);
  EXPECT_NE(line.find(fmt::format("~{:.0f}% of it", f * 100)), std::string::npos) << line;
  EXPECT_NE(line.find("ETA step ~" + format_duration(step - 60) + ", run ~" + format_duration(step - 60 + 2 * step)),
            std::string::npos)
      << line;
  // Before any block: no estimate yet.
  EXPECT_NE(in_step_progress_line(0, 3, 5, 0, w, {Phase::forward, 1}).find("ETA after the first block"),
            std::string::npos);
}

TEST(ProgressLine, Durations) {
  EXPECT_EQ(format_duration(4.26), "4.3 s");
  EXPECT_EQ(format_duration(45.4), "45 s");
  EXPECT_EQ(format_duration(185), "3m05s");
  EXPECT_EQ(format_duration(3720), "1h02m");
}

// The thread: a step longer than the interval gets in-step lines; start-up phases are
// announced, then summarised once the first step begins.
TEST(ProgressTicker, PrintsStartUpPhasesThenInStepLines) {
  char* buf = nullptr;
  size_t len = 0;
  FILE* out = open_memstream(&buf, &len);
  ASSERT_NE(out, nullptr);
  {
    ProgressTicker t(0.05, step_work_of(tiny(), false), 2, out);
    t.startup_phase("GEMM peak", "measuring the GEMM peak");
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    t.startup_phase("model", "building the model");
    std::this_thread::sleep_for(std::chrono::milliseconds(120));  // long enough for a "so far" line
    t.step_started(0);
    step_progress::enter(Phase::backward, 2);
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    step_progress::enter(Phase::idle);
  }
  std::fclose(out);
  const std::string text(buf, len);
  std::free(buf);
  const size_t gemm = text.find("start-up: measuring the GEMM peak\n");
  const size_t model = text.find("start-up: building the model\n");
  const size_t so_far = text.find("... start-up: model, ");
  const size_t done = text.find("start-up done in ");
  const size_t step = text.find("... iter 1/2  ");
  ASSERT_NE(gemm, std::string::npos) << text;
  ASSERT_NE(model, std::string::npos) << text;
  ASSERT_NE(so_far, std::string::npos) << text;
  ASSERT_NE(done, std::string::npos) << text;
  ASSERT_NE(step, std::string::npos) << text;
  EXPECT_TRUE(gemm < model && model < so_far && so_far < done && done < step) << text;
  EXPECT_NE(text.find("(GEMM peak "), std::string::npos) << text;
  EXPECT_NE(text.find("backward, block 2 of 3 (rank 0)"), std::string::npos) << text;
}

}  // namespace
}  // namespace tpb
