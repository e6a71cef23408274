// collectives.h — the CUDA backend's device collectives (NCCL, opened at run time), when it was
// built with nccl.h and the machine has libnccl.so.2.
#pragma once

#include <string>

#include "gom/kernel.h"

namespace gom::cuda {

/// @brief Fills BackendInfo's collective_* with NCCL's, when built with nccl.h and NCCL opens
/// (else leaves them empty: gom then sums gradients through the host).
void add_collectives(BackendInfo& info);
/// @brief "NCCL 2.28.3" for the backend's description, or "" without NCCL.
std::string collectives_description();

}  // namespace gom::cuda
