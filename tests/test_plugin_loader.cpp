// The loader and the kernel registry, with real .so files: good ones load, bad ones are refused
// with a message naming the file and the problem, and the host carries on.
#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>

#include "gom/gom.h"

using namespace gom;
using Catch::Matchers::Contains;
namespace fs = std::filesystem;

static std::string test_plugin(const char* name) {
  return std::string(GOM_TEST_PLUGIN_DIR) + "/libgomtest_" + name + ".so";
}

TEST_CASE("the oneDNN backend is loaded as a plugin and registers its kernels", "[plugin]") {
  bool found = false;
  for (const auto& p : loaded_plugins()) found = found || p.name == "gom_onednn";
  CHECK(found);
  const BackendInfo* b = find_backend(DeviceType::CPU);
  REQUIRE(b != nullptr);
  CHECK(b->name == "onednn");
  CHECK_THAT(b->description, Contains("oneDNN"));
  for (const char* op : {"matmul", "binary", "unary", "reduce", "log_softmax", "gather", "random"})
    CHECK(kernel_provider(op, DeviceType::CPU) == "gom_onednn");
}

TEST_CASE("a plugin with another ABI version is refused before it registers", "[plugin]") {
  CHECK_THROWS_WITH(load_plugin(test_plugin("bad_abi")),
                    Contains("incompatible ABI version (plugin: 999, host: " +
                             std::to_string(kAbiVersion) + ")"));
}

TEST_CASE("a plugin whose registration throws is reported and leaves nothing behind", "[plugin]") {
  CHECK_THROWS_WITH(load_plugin(test_plugin("throwing_register")),
                    Contains("registration failed: the widget table is missing"));
  CHECK_THROWS_WITH(create_layer("half_registered"), Contains("unknown layer 'half_registered'"));
  CHECK_FALSE(has_kernel("half_registered_op", DeviceType::CPU));
}

TEST_CASE("GOM_PLUGIN_PATH folders are scanned; a broken plugin there is skipped with its reason",
          "[plugin]") {
  const fs::path dir = fs::temp_directory_path() / "gom_plugin_path_test";
  fs::create_directories(dir);
  fs::copy_file(test_plugin("no_entry"), dir / "libgom_broken.so",
                fs::copy_options::overwrite_existing);
  ::setenv("GOM_PLUGIN_PATH", ("/nonexistent:" + dir.string()).c_str(), 1);
  const auto errors = load_default_plugins();
  ::unsetenv("GOM_PLUGIN_PATH");
  const bool reported = std::any_of(errors.begin(), errors.end(), [](const std::string& e) {
    return e.find("libgom_broken.so: not a gom plugin") != std::string::npos;
  });
  CHECK(reported);
  CHECK(find_backend(DeviceType::CPU) != nullptr);  // the host carries on
  fs::remove_all(dir);
}

TEST_CASE("a library without the entry symbol is not a gom plugin", "[plugin]") {
  CHECK_THROWS_WITH(load_plugin(test_plugin("no_entry")),
                    Contains("not a gom plugin (it exports no 'gom_abi_version'"));
}

TEST_CASE("missing and truncated files are refused", "[plugin]") {
  CHECK_THROWS_WITH(load_plugin("/nonexistent/libgom_x.so"), Contains("no such file"));
  CHECK_THROWS_WITH(load_plugin(GOM_PLUGIN_DIR),
                    std::string("plugin ") + GOM_PLUGIN_DIR +
                        ": is a directory; a plugin is a shared library file (libgom_NAME.so)");
  const fs::path trunc = fs::temp_directory_path() / "libgom_truncated_test.so";
  {
    std::ifstream in(std::string(GOM_PLUGIN_DIR) + "/libgom_onednn.so", std::ios::binary);
    std::vector<char> head(4096);
    in.read(head.data(), head.size());
    std::ofstream(trunc, std::ios::binary).write(head.data(), in.gcount());
  }
  CHECK_THROWS_WITH(
      load_plugin(trunc.string()),
      Contains("cannot be loaded as a shared library: truncated (a segment ends at byte"));
  std::ofstream(trunc) << "this is a text file, not a library\n";
  CHECK_THROWS_WITH(load_plugin(trunc.string()), Contains("not an ELF file"));
  fs::remove(trunc);
}

TEST_CASE("a plugin can add a kernel under a new op name", "[plugin]") {
  CHECK_THROWS_WITH(run_kernel("test_square", {ones({2})}, {ones({2})}),
                    Contains("no kernel for op 'test_square' on device cpu"));
  load_plugin(test_plugin("fused_square"));
  Tensor x = tensor({1, 2, 3}, {3}), y = Tensor::empty({3});
  run_kernel("test_square", {x}, {y});
  CHECK(y.to_vector<float>() == std::vector<float>{1, 4, 9});
  CHECK(kernel_provider("test_square", DeviceType::CPU) == "gomtest_fused_square");
  // An exception from the plugin's factory names the component and the library.
  CHECK_THROWS_WITH(create_layer("always_fails"),
                    Contains("layer 'always_fails' (from ") &&
                        Contains("libgomtest_fused_square.so): no GPU in this machine"));
}

TEST_CASE("an op on a device without a backend is a clear error", "[plugin]") {
  if (find_backend(DeviceType::CUDA)) return;  // a CUDA backend is loaded: nothing to refuse
  CHECK_THROWS_WITH(Tensor::empty({2}, {DType::F32, Device{DeviceType::CUDA, 0}}),
                    Contains("no backend provides memory for device cuda:0"));
  CHECK_THROWS_WITH(find_kernel("matmul", DeviceType::CUDA),
                    Contains("no kernel for op 'matmul' on device cuda (no backend for that "
                             "device is loaded); it is available on: cpu"));
}

TEST_CASE("kernel attributes report what is missing", "[plugin]") {
  Attrs a{{"dim", int64_t(1)}};
  CHECK(a.i("dim") == 1);
  CHECK(a.f("dim") == 1.0);
  CHECK_THROWS_WITH(a.i("axis"), Contains("kernel attribute 'axis' was not passed"));
}

// Plugins build with hidden visibility: the SDK's exception and interface types must still be
// one type across the boundary, or `catch (const gom::Error&)` in the host misses a plugin's
// throw (and dynamic_cast across it fails).
TEST_CASE("a gom::Error thrown inside a plugin is caught as gom::Error by the host", "[plugin]") {
  bool caught_as_error = false;
  try {
    nll_loss(zeros({2, 3}), tensor_i64({0, 9}, {2}));  // thrown by the onednn plugin's kernel
  } catch (const Error& e) {
    caught_as_error = std::string(e.what()).find("out of range") != std::string::npos;
  } catch (const std::exception&) {
  }
  CHECK(caught_as_error);
  auto seq = create_layer("sequential");  // made inside libgom_layers.so
  CHECK(std::dynamic_pointer_cast<Sequential>(seq) != nullptr);
  auto lin = create_layer("linear", {{"in", 2}, {"out", 2}});
  CHECK(std::dynamic_pointer_cast<Sequential>(lin) == nullptr);
}
