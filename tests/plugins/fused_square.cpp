// A plugin that adds a kernel of its own under a new op name (as a fused layer kernel would),
// and a layer whose factory throws a non-gom exception (converted by the host).
#include <stdexcept>

#include "gom/kernel.h"
#include "gom/layer.h"
#include "gom/plugin.h"

static void register_all(const gom::PluginContext& ctx) {
  gom::register_kernel(
      "test_square", gom::DeviceType::CPU,
      [](const gom::KernelCall& c) {
        const float* in = c.in[0].data<float>();
        float* out = c.out[0].data<float>();
        for (int64_t i = 0; i < c.out[0].numel(); ++i) out[i] = in[i] * in[i];
      },
      ctx.name);
  gom::register_layer("always_fails", "a layer whose creation throws", gom::Schema{},
                      [](const gom::Params&) -> std::shared_ptr<gom::Module> {
                        throw std::runtime_error("no GPU in this machine");
                      });
}
GOM_PLUGIN(register_all)
