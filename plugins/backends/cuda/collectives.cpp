// Device collectives for data-parallel training (BackendInfo::collective_*): NCCL communicators
// and an in-place float sum on the caller's stream, so gradients on GPUs are summed GPU to GPU
// (NVLink, PCIe or the network NCCL picks) instead of through the host. NCCL is often installed
// apart from the toolkit, so it is opened at run time (dlopen of libnccl.so.2): without it the
// backend still loads and runs, offers no collectives, and gom sums gradients through the host.
// nccl.h is needed at build time only, for the signatures (GOM_CUDA_NCCL).
#include "collectives.h"

#ifdef GOM_CUDA_NCCL
#include <dlfcn.h>
#include <fmt/format.h>
#include <nccl.h>

#include <cstring>

#include "cuda_util.h"

namespace gom::cuda {
namespace {

// The NCCL functions gom calls, from the library opened at run time.
struct Nccl {
  decltype(&ncclGetVersion) get_version = nullptr;
  decltype(&ncclGetUniqueId) get_unique_id = nullptr;
  decltype(&ncclCommInitRank) comm_init_rank = nullptr;
  decltype(&ncclCommDestroy) comm_destroy = nullptr;
  decltype(&ncclAllReduce) all_reduce = nullptr;
  decltype(&ncclGetErrorString) error_string = nullptr;
  decltype(&ncclGetLastError) last_error = nullptr;
};

// Null when no NCCL can be opened (or it lacks a function): the backend has no collectives.
const Nccl* nccl() {
  static const Nccl* lib = []() -> const Nccl* {
    void* h = dlopen("libnccl.so.2", RTLD_NOW | RTLD_LOCAL);
#ifdef GOM_NCCL_PATH
    if (!h) h = dlopen(GOM_NCCL_PATH, RTLD_NOW | RTLD_LOCAL);  // where the build found it
#endif
    if (!h) return nullptr;
    static Nccl n;
    bool all = true;
    auto bind = [&](auto& fn, const char* name) {
      fn = reinterpret_cast<std::remove_reference_t<decltype(fn)>>(dlsym(h, name));
      all = all && fn;
    };
    bind(n.get_version, "ncclGetVersion");
    bind(n.get_unique_id, "ncclGetUniqueId");
    bind(n.comm_init_rank, "ncclCommInitRank");
    bind(n.comm_destroy, "ncclCommDestroy");
    bind(n.all_reduce, "ncclAllReduce");
    bind(n.error_string, "ncclGetErrorString");
    bind(n.last_error, "ncclGetLastError");
    return all ? &n : nullptr;
  }();
  return lib;
}

[[noreturn]] void throw_nccl(ncclResult_t r, const std::string& what, ncclComm_t comm = nullptr) {
  const char* last = nccl()->last_error(comm);
  throw Error(fmt::format("NCCL: {} failed: {}{}{}", what, nccl()->error_string(r),
                          last && *last ? ": " : "", last ? last : ""));
}

std::string new_id() {
  ncclUniqueId id;
  if (const ncclResult_t r = nccl()->get_unique_id(&id); r != ncclSuccess)
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
  if (const ncclResult_t r = nccl()->comm_init_rank(&comm, world, u, rank); r != ncclSuccess)
    throw_nccl(r, fmt::format("joining as rank {} of {} on {}", rank, world, device.str()));
  return std::shared_ptr<void>(comm,
                               [](void* c) { nccl()->comm_destroy(static_cast<ncclComm_t>(c)); });
}

void sum(void* member, float* data, size_t count, Stream stream) {
  const auto comm = static_cast<ncclComm_t>(member);
  set_device(stream.device.index);
  if (const ncclResult_t r =
          nccl()->all_reduce(data, data, count, ncclFloat32, ncclSum, comm, resolve(stream));
      r != ncclSuccess)
    throw_nccl(r, "ncclAllReduce", comm);
}

}  // namespace

void add_collectives(BackendInfo& info) {
  if (!nccl()) return;
  info.collective_id = new_id;
  info.collective_join = join;
  info.collective_sum = sum;
}

std::string collectives_description() {
  if (!nccl()) return "";
  int v = 0;
  nccl()->get_version(&v);
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
