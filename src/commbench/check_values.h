// Values for checking collectives to the bit (0 ULP) whatever order a backend reduces in.
//
// Every input is a small non-negative integer and every partial sum stays at or below 2n
// for n ranks, so sums are exact in fp32 (24 significant bits) and, for n <= 128, in bf16
// (8 significant bits: integers up to 256). Expected outputs come from closed forms, not
// from another collective:
//   all_reduce, reduce_scatter  rank r, element j: (r + j) % 3; expected sum over ranks
//   all_gather                  rank r, element k: (37 r + k) % 251; expected block b = rank b's
//   broadcast                   root's buffer as all_gather's rank `root`; others start at -1
//   all_to_all                  rank r, block p, element k: (31 r + 7 p + k) % 251; rank r
//                               receives (31 p + 7 r + k) % 251 in block p
// Outputs are set to -1 (which no check value is) before a checked call, so an element the
// collective never wrote is counted wrong.
#pragma once

#include <cstdint>

#include "commbench/collective_call.h"

namespace tpb {

// The largest group whose bf16 sums are still exact with these values.
constexpr int kMaxExactBf16Ranks = 128;

// Writes this rank's inputs for `call` and sets every output element that is not also an
// input to -1. `rank` and `n` are the group's.
void fill_check_values(const CollectiveCall& call, int rank, int n);

// Output elements on this rank that differ from the closed form.
int64_t count_wrong(const CollectiveCall& call, int rank, int n);

// The sum over ranks 0..n-1 of (r + j) % 3, in closed form.
int64_t sum_of_reduce_values(size_t j, int n);

}  // namespace tpb
