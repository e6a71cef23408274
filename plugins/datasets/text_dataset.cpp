#include "datasets.h"

namespace gom::datasets {

void register_text() {}

}  // namespace gom::datasets
