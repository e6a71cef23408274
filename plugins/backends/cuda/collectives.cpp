// Device collectives for data-parallel training (BackendInfo::collective_*): NCCL communicators
// and an in-place float sum on the caller's stream, so gradients on GPUs are summed GPU to GPU
// (NVLink, PCIe or the network NCCL picks) instead of through the host. Built when the toolkit
// has NCCL (GOM_CUDA_NCCL); without it the backend offers no collectives and gom uses MPI.
#include "collectives.h"

#ifdef GOM_CUDA_NCCL
#include <fmt/format.h>
#include <nccl.h>

#include <cstring>

#include "cuda_util.h"

namespace gom::cuda {
namespace {

[[noreturn]] void throw_nccl(ncclResult_t r, const char* what, ncclComm_t comm = nullptr) {
  const char* last = comm ? ncclGetLastError(comm) : ncclGetLastError(nullptr);
  throw Error(fmt::format("NCCL: {} failed: {}{}{}", what, ncclGetErrorString(r),
                          last && *last ? ": " : "", last ? last : ""));
}

std::string new_id() {
  ncclUniqueId id;
  if (const ncclResult_t r = ncclGetUniqueId(&id); r != ncclSuccess)
    throw_nccl(r, "ncclGetUniqueId");
  return std::string(id.internal, sizeof id.internal);
}

std::shared_ptr<void> join(const std::string& id, int rank, int world, Device device) {
  ncclUniqueId u;
  if (id.size() != sizeof u.internal)
    throw Error(
        fmt::format("NCCL: a communicator id has {} bytes, not {}", id.size(), sizeof u.internal));
  std::memcpy(u.internal, id.data(), sizeof u.internal);
  set_device(device.index);  // the communicator's device is the current one
  ncclComm_t comm = nullptr;
  if (const ncclResult_t r = ncclCommInitRank(&comm, world, u, rank); r != ncclSuccess)
    throw_nccl(r, fmt::format("joining as rank {} of {} on {}", rank, world, device.str()).c_str());
  return std::shared_ptr<void>(comm, [](void* c) { ncclCommDestroy(static_cast<ncclComm_t>(c)); });
}

void sum(void* member, float* data, size_t count, Stream stream) {
  const auto comm = static_cast<ncclComm_t>(member);
  set_device(stream.device.index);
  if (const ncclResult_t r =
          ncclAllReduce(data, data, count, ncclFloat32, ncclSum, comm, resolve(stream));
      r != ncclSuccess)
    throw_nccl(r, "ncclAllReduce", comm);
}

}  // namespace

void add_collectives(BackendInfo& info) {
  info.collective_id = new_id;
  info.collective_join = join;
  info.collective_sum = sum;
}

std::string collectives_description() {
  int v = 0;
  ncclGetVersion(&v);
  return fmt::format("NCCL {}.{}.{}", v / 10000, v / 100 % 100, v % 100);
}

}  // namespace gom::cuda

#else

namespace gom::cuda {
void add_collectives(BackendInfo&) {}
std::string collectives_description() {
  return "";
}
}  // namespace gom::cuda

#endif
