#include "layers.h"

namespace gom_layers {

void register_recurrent() {}

}  // namespace gom_layers
