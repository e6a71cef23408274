// Plugin entry: registers this library's components (filled in as they are written).
#include "gom/plugin.h"

static void register_all(const gom::PluginContext&) {}
GOM_PLUGIN(register_all)
