// The callbacks of gom_callbacks: one registration function per component, called from the
// library's entry in plugin.cpp (nothing registers itself from a static initialiser).
#pragma once

namespace gom::callbacks {

void register_accuracy();
void register_early_stopping();
void register_progress();

}  // namespace gom::callbacks
