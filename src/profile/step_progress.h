// Where this process is inside a training step, so that a step that takes minutes still
// shows progress (train's in-step progress lines, train/progress_ticker.h).
//
// The model announces each unit it enters (the embedding, each block, the loss head), in
// forward and in backward, and the trainer the optimizer; each announcement is one relaxed
// atomic store, read by the progress thread. Nothing here waits, allocates or prints.
#pragma once

#include <cstdint>
#include <string>

namespace tpb::step_progress {

enum class Phase : uint8_t { idle, forward, backward, optimizer };

struct Position {
  Phase phase = Phase::idle;
  int unit = 0;  // 0: the embedding; 1..n_layers: the blocks; n_layers + 1: the final norm and loss head
};

void enter(Phase phase, int unit = 0);
Position current();

// How far into the step a position is, as a fraction of the step's work (0 <= f < 1):
// the units before it in forward and backward, weighted by their FLOPs per token. The
// model's units: a block's forward costs `block` (matmuls and attention), its backward
// twice that (three times with recompute: the block's forward runs again); the fused loss
// head computes its gradients in its forward, so it costs 3 x `head` there and nothing
// in backward; the embedding and the optimizer are counted as free.
struct StepWork {
  int n_layers = 0;
  double block = 0;  // FLOPs per token of one block's forward
  double head = 0;   // FLOPs per token of the head's forward (2 x vocab x dim)
  bool recompute = false;
};
double fraction_done(const StepWork& w, Position p);

// "forward, block 3 of 8", "backward, loss head", "optimizer", "between steps".
std::string describe(const StepWork& w, Position p);

}  // namespace tpb::step_progress
