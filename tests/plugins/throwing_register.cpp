// A plugin whose registration throws after registering a layer and a kernel: the host reports
// it, removes what it had registered, and carries on.
#include <stdexcept>

#include "gom/kernel.h"
#include "gom/layer.h"
#include "gom/plugin.h"

static void register_all(const gom::PluginContext& ctx) {
  gom::register_layer("half_registered", "registered before the failure", gom::Schema{},
                      [](const gom::Params&) { return std::make_shared<gom::Sequential>(); });
  gom::register_kernel(
      "half_registered_op", gom::DeviceType::CPU, [](const gom::KernelCall&) {}, ctx.name);
  throw std::runtime_error("the widget table is missing");
}
GOM_PLUGIN(register_all)
