#include "train/data_parallel.h"

#include "base/error.h"
#include "train/dp/ddp.h"
#include "train/dp/fsdp.h"
#include "train/dp/zero1.h"

namespace tpb {

std::unique_ptr<DataParallel> make_data_parallel(DpShard mode, ModelParams& p, Communicator& dp,
                                                 Communicator& tp, int64_t bucket_bytes, bool overlap) {
  TPB_CHECK(p.dims().dp() == dp.size(), "parameters laid out for {} used on a dp communicator of {} ranks",
            p.dims().describe(), dp.size());
  switch (mode) {
    case DpShard::none: return std::make_unique<Ddp>(p, dp, tp, bucket_bytes, overlap);
    case DpShard::optimizer: return std::make_unique<Zero1>(p, dp, tp, overlap);
    case DpShard::full: return std::make_unique<Fsdp>(p, dp, tp, overlap);
  }
  TPB_CHECK(false, "unknown data-parallel layout {}", static_cast<int>(mode));
}

}  // namespace tpb
