#include "comm/mpi/shm_collectives.h"

#include <sched.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <string>

#include "base/error.h"
#include "comm/mpi/host_reduce.h"
#include "comm/mpi/mpi_communicator.h"

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define TPB_CPU_RELAX() _mm_pause()
#else
#define TPB_CPU_RELAX() ((void)0)
#endif

namespace tpb {

namespace {

constexpr size_t kHeaderBytes = 4096;  // the arrival counter's page (its own, away from the data)
constexpr size_t kMinChunk = size_t{4} << 10;
constexpr size_t kMaxChunk = size_t{64} << 20;
constexpr int kSpinsBeforeYield = 256;

static_assert(std::atomic_ref<uint64_t>::is_always_lock_free,
              "the arrival counters are shared between processes: they must be lock-free");

uint64_t* counter(char* segment) { return reinterpret_cast<uint64_t*>(segment); }

}  // namespace

size_t ShmCollectives::default_chunk_bytes() {
  const char* env = std::getenv("TPB_SHM_CHUNK_BYTES");
  if (env == nullptr || *env == '\0') return size_t{1} << 20;
  char* end = nullptr;
  const unsigned long long v = std::strtoull(env, &end, 10);
  TPB_CHECK(end != nullptr && *end == '\0' && v >= kMinChunk && v <= kMaxChunk && v % 64 == 0,
            "TPB_SHM_CHUNK_BYTES={}: need a multiple of 64 from {} to {} bytes", env, kMinChunk, kMaxChunk);
  return static_cast<size_t>(v);
}

ShmCollectives::ShmCollectives(MPI_Comm comm, size_t chunk_bytes) : chunk_bytes_(chunk_bytes) {
  TPB_CHECK(chunk_bytes >= kMinChunk && chunk_bytes % 64 == 0, "ShmCollectives: chunk of {} bytes", chunk_bytes);
  check_mpi(MPI_Comm_rank(comm, &rank_), "MPI_Comm_rank");
  check_mpi(MPI_Comm_size(comm, &size_), "MPI_Comm_size");
  MPI_Info info = MPI_INFO_NULL;
  check_mpi(MPI_Info_create(&info), "MPI_Info_create");
  // Each rank's segment on its own pages (its own NUMA node's memory where it first touches).
  MPI_Info_set(info, "alloc_shared_noncontig", "true");
  char* mine = nullptr;
  // Open MPI places a segment at any 8-byte boundary: 64 bytes more leave room to start on a
  // cache line. Mappings are page-aligned, so the line boundary falls at the same place of
  // the segment in every process.
  const MPI_Aint used = static_cast<MPI_Aint>(kHeaderBytes + 2 * chunk_bytes_);
  const MPI_Aint bytes = used + 64;
  const int rc = MPI_Win_allocate_shared(bytes, 1, info, comm, &mine, &win_);
  MPI_Info_free(&info);
  check_mpi(rc, "MPI_Win_allocate_shared (the shared-memory route's staging buffers)");
  base_.resize(static_cast<size_t>(size_));
  for (int r = 0; r < size_; ++r) {
    MPI_Aint size = 0;
    int disp = 0;
    char* p = nullptr;
    check_mpi(MPI_Win_shared_query(win_, r, &size, &disp, &p), "MPI_Win_shared_query");
    TPB_CHECK(p != nullptr && size >= bytes, "MPI_Win_shared_query: rank {}'s segment at {} of {} bytes (need {})", r,
              static_cast<void*>(p), static_cast<long long>(size), static_cast<long long>(bytes));
    const uintptr_t at = reinterpret_cast<uintptr_t>(p);
    base_[static_cast<size_t>(r)] = p + ((64 - at % 64) % 64);
  }
  std::atomic_ref<uint64_t>(*counter(base_[static_cast<size_t>(rank_)])).store(0, std::memory_order_relaxed);
  (void)mine;
  counts_.resize(static_cast<size_t>(size_));
  displs_.resize(static_cast<size_t>(size_));
  sources_.resize(static_cast<size_t>(size_));
  // Nobody reads a counter before every rank has zeroed its own.
  check_mpi(MPI_Barrier(comm), "MPI_Barrier (shared-memory route setup)");
}

ShmCollectives::~ShmCollectives() {
  int finalized = 0;
  MPI_Finalized(&finalized);
  if (finalized || win_ == MPI_WIN_NULL) return;
  // Unwinding after this rank's error: the other ranks may never reach a matching sync or
  // MPI_Win_free (they wait in a collective for this rank), so waiting here would hang the
  // job before the error is printed and the job aborted (cli/main.cpp). The window is left
  // to MPI_Abort.
  if (std::uncaught_exceptions() > 0) return;
  sync();  // nobody still reads a buffer of the last round
  MPI_Win_free(&win_);
}

void ShmCollectives::sync() {
  ++epoch_;
  std::atomic_ref<uint64_t>(*counter(base_[static_cast<size_t>(rank_)])).store(epoch_, std::memory_order_release);
  for (int q = 0; q < size_; ++q) {
    if (q == rank_) continue;
    std::atomic_ref<uint64_t> theirs(*counter(base_[static_cast<size_t>(q)]));
    for (int spins = 0; theirs.load(std::memory_order_acquire) < epoch_; ++spins) {
      if (spins < kSpinsBeforeYield)
        TPB_CPU_RELAX();
      else
        sched_yield();
    }
  }
}

char* ShmCollectives::staging(int rank) const {
  return base_[static_cast<size_t>(rank)] + kHeaderBytes + (round_ & 1) * chunk_bytes_;
}

size_t ShmCollectives::in_round(int64_t count, size_t k, size_t per_round) {
  const size_t start = k * per_round;
  const size_t n = static_cast<size_t>(count);
  return n > start ? std::min(per_round, n - start) : 0;
}

void ShmCollectives::set_sources(const char* in, size_t k, size_t per, size_t e) {
  for (int q = 0; q < size_; ++q)
    sources_[static_cast<size_t>(q)] =
        q == rank_ ? in + (static_cast<size_t>(displs_[static_cast<size_t>(q)]) + k * per) * e
                   : staging(q) + static_cast<size_t>(rank_) * per * e;
}

void ShmCollectives::stage_pieces(const char* in, size_t k, size_t per, size_t e) {
  char* buf = staging(rank_);
  for (int q = 0; q < size_; ++q) {
    const size_t n = in_round(counts_[static_cast<size_t>(q)], k, per);
    if (n > 0 && q != rank_)
      std::memcpy(buf + static_cast<size_t>(q) * per * e,
                  in + (static_cast<size_t>(displs_[static_cast<size_t>(q)]) + k * per) * e, n * e);
  }
}

void ShmCollectives::set_counts(std::span<const int64_t> counts) {
  int64_t offset = 0;
  for (int r = 0; r < size_; ++r) {
    counts_[static_cast<size_t>(r)] = counts[static_cast<size_t>(r)];
    displs_[static_cast<size_t>(r)] = offset;
    offset += counts[static_cast<size_t>(r)];
  }
}

namespace {

// Elements of each rank's piece per round when a staging buffer holds `pieces` pieces: a
// multiple of 64 bytes where that leaves at least one element.
size_t piece_elements(size_t chunk_bytes, int pieces, size_t esize) {
  const size_t n = chunk_bytes / (static_cast<size_t>(pieces) * esize);
  const size_t align = std::max<size_t>(1, 64 / esize);
  return std::max<size_t>(1, n >= align ? n - n % align : n);
}

size_t rounds_for(std::span<const int64_t> counts, size_t per_round) {
  const int64_t most = *std::max_element(counts.begin(), counts.end());
  return (static_cast<size_t>(most) + per_round - 1) / per_round;
}

}  // namespace

void ShmCollectives::reduce_scatter_v(const void* send, void* recv, std::span<const int64_t> counts, DType t,
                                      ReduceOp op) {
  set_counts(counts);
  const size_t e = dtype_size(t);
  const size_t per = piece_elements(chunk_bytes_, size_, e);
  const size_t rounds = rounds_for(counts, per);
  const char* in = static_cast<const char*>(send);
  char* out = static_cast<char*>(recv);
  const int64_t mine = counts_[static_cast<size_t>(rank_)];
  for (size_t k = 0; k < rounds; ++k, ++round_) {
    stage_pieces(in, k, per, e);
    sync();
    const size_t n = in_round(mine, k, per);
    if (n == 0) continue;
    set_sources(in, k, per, e);
    reduce_sources(out + k * per * e, sources_.data(), size_, n, t, op);
  }
  finish_avg(recv, static_cast<size_t>(mine), t, op, size_);
}

void ShmCollectives::all_reduce(const void* send, void* recv, size_t count, DType t, ReduceOp op) {
  const size_t p = static_cast<size_t>(size_);
  for (size_t r = 0; r < p; ++r) counts_[r] = static_cast<int64_t>(count / p + (r < count % p ? 1 : 0));
  set_counts(std::span<const int64_t>(counts_));
  const size_t e = dtype_size(t);
  const size_t per = piece_elements(chunk_bytes_, size_, e);
  const size_t rounds = rounds_for(counts_, per);
  const char* in = static_cast<const char*>(send);
  char* out = static_cast<char*>(recv);
  for (size_t k = 0; k < rounds; ++k, ++round_) {
    char* buf = staging(rank_);
    stage_pieces(in, k, per, e);
    sync();
    // My piece, reduced over every rank, published in my buffer's slot for it (left empty by
    // the copy-in; the others read only their own pieces of my buffer in this phase).
    const size_t n = in_round(counts_[static_cast<size_t>(rank_)], k, per);
    char* reduced = buf + static_cast<size_t>(rank_) * per * e;
    if (n > 0) {
      set_sources(in, k, per, e);
      reduce_sources(reduced, sources_.data(), size_, n, t, op);
      finish_avg(reduced, n, t, op, size_);
    }
    sync();
    for (int q = 0; q < size_; ++q) {
      const size_t m = in_round(counts_[static_cast<size_t>(q)], k, per);
      if (m > 0)
        std::memcpy(out + (static_cast<size_t>(displs_[static_cast<size_t>(q)]) + k * per) * e,
                    staging(q) + static_cast<size_t>(q) * per * e, m * e);
    }
  }
}

void ShmCollectives::all_gather_v(const void* send, void* recv, std::span<const int64_t> counts, DType t) {
  set_counts(counts);
  const size_t e = dtype_size(t);
  const size_t per = piece_elements(chunk_bytes_, 1, e);
  const size_t rounds = rounds_for(counts, per);
  const char* in = static_cast<const char*>(send);
  char* out = static_cast<char*>(recv);
  for (size_t k = 0; k < rounds; ++k, ++round_) {
    const size_t mine = in_round(counts_[static_cast<size_t>(rank_)], k, per);
    if (mine > 0) std::memcpy(staging(rank_), in + k * per * e, mine * e);
    sync();
    for (int q = 0; q < size_; ++q) {
      const size_t n = in_round(counts_[static_cast<size_t>(q)], k, per);
      if (n == 0) continue;
      char* dst = out + (static_cast<size_t>(displs_[static_cast<size_t>(q)]) + k * per) * e;
      // My own piece straight from the input (nothing to do in place).
      const char* src = q == rank_ ? in + k * per * e : staging(q);
      if (dst != src) std::memcpy(dst, src, n * e);
    }
  }
}

void ShmCollectives::broadcast(void* buf, size_t count, DType t, int root) {
  const size_t e = dtype_size(t);
  const size_t per = piece_elements(chunk_bytes_, 1, e);
  const size_t rounds = (count + per - 1) / per;
  char* data = static_cast<char*>(buf);
  for (size_t k = 0; k < rounds; ++k, ++round_) {
    const size_t n = in_round(static_cast<int64_t>(count), k, per);
    if (rank_ == root) std::memcpy(staging(rank_), data + k * per * e, n * e);
    sync();
    if (rank_ != root) std::memcpy(data + k * per * e, staging(root), n * e);
  }
}

void ShmCollectives::copy_ring(const void* send, void* recv, size_t bytes) {
  const char* in = static_cast<const char*>(send);
  char* out = static_cast<char*>(recv);
  const int from = (rank_ + size_ - 1) % size_;
  for (size_t done = 0; done < bytes; done += chunk_bytes_, ++round_) {
    const size_t n = std::min(chunk_bytes_, bytes - done);
    std::memcpy(staging(rank_), in + done, n);
    sync();
    std::memcpy(out + done, staging(from), n);
  }
}

}  // namespace tpb
