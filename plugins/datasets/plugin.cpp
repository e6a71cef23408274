// Plugin entry of gom_datasets: the IDX (MNIST / Fashion-MNIST) and synthetic datasets.
#include "gom/plugin.h"

#include "datasets.h"

static void register_all(const gom::PluginContext&) {
  gom::datasets::register_idx();
  gom::datasets::register_synthetic();
}
GOM_PLUGIN(register_all)
