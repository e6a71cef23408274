// Plugin entry of gom_datasets: the IDX (MNIST / Fashion-MNIST), synthetic, text, csv,
// ratings and sequence_task datasets.
#include "gom/plugin.h"

#include "datasets.h"

static void register_all(const gom::PluginContext&) {
  gom::datasets::register_idx();
  gom::datasets::register_synthetic();
  gom::datasets::register_text();
  gom::datasets::register_csv();
  gom::datasets::register_ratings();
  gom::datasets::register_sequence_task();
}
GOM_PLUGIN(register_all)
