// Plugin entry of gom_callbacks: metrics, early stopping and the progress display.
#include "gom/plugin.h"

#include "callbacks.h"

static void register_all(const gom::PluginContext&) {
  gom::callbacks::register_accuracy();
  gom::callbacks::register_early_stopping();
  gom::callbacks::register_progress();
}
GOM_PLUGIN(register_all)
