// A plugin that adds a kernel of its own under a new op name (as a fused layer kernel would).
#include "gom/kernel.h"
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
}
GOM_PLUGIN(register_all)
