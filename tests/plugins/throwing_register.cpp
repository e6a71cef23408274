// A plugin whose registration throws: the host reports it and carries on.
#include "gom/plugin.h"

#include <stdexcept>

static void register_all(const gom::PluginContext&) {
  throw std::runtime_error("the widget table is missing");
}
GOM_PLUGIN(register_all)
