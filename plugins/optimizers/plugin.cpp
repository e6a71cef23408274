// Plugin entry of gom_optimizers: the optimizers (sgd, adam, adamw, rmsprop, adagrad) and their
// fused CPU kernels.
#include "optim.h"

static void register_all(const gom::PluginContext& ctx) {
  gom::optim::register_kernels(ctx);
  gom::optim::register_sgd(ctx);
  gom::optim::register_adam(ctx);
  gom::optim::register_adamw(ctx);
  gom::optim::register_rmsprop(ctx);
  gom::optim::register_adagrad(ctx);
}
GOM_PLUGIN(register_all)
