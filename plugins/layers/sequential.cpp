// sequential: the container whose children run in order (children are added with add()).
#include "gom/layer.h"
#include "layers.h"

namespace gom_layers {

void register_sequential() {
  gom::register_layer("sequential", "runs its children one after another (add them with add)",
                      gom::Schema{},
                      [](const gom::Params&) { return std::make_shared<gom::Sequential>(); });
}

}  // namespace gom_layers
