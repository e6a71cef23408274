// A plugin built for another ABI version: the host must refuse it before registering anything.
#include <boost/dll/alias.hpp>

namespace bad {
int abi_version() {
  return 999;
}
void register_entry() {
  throw 1;
}  // must never be called
}  // namespace bad
BOOST_DLL_ALIAS(bad::abi_version, gom_abi_version)
BOOST_DLL_ALIAS(bad::register_entry, gom_register)
