#include "datasets.h"

namespace gom::datasets {

void register_csv() {}

}  // namespace gom::datasets
