// Models on the GPU: Module::to moves every parameter and buffer in place and back; a training
// step of an MLP, a CNN with batch norm and an LSTM on cuda:0 equals the same step on the CPU;
// safetensors saved from a CUDA model load into another CUDA model.
#include <catch2/catch.hpp>
#include <functional>
#include <memory>

#include "gpu_test.h"
#include "temp_files.h"

using namespace gom;
using gom_gpu_test::differs;
using gom_gpu_test::kCuda;

namespace {

std::shared_ptr<Sequential> sequential() {
  return std::static_pointer_cast<Sequential>(create_layer("sequential"));
}

std::shared_ptr<Module> make_mlp() {
  return sequential()
      ->add(create_layer("linear", {{"in", 12}, {"out", 32}}))
      ->add(create_layer("relu"))
      ->add(create_layer("linear", {{"in", 32}, {"out", 5}}));
}

// [N, 3, 8, 8] -> [N, 5], with batch norm's running statistics and its i64 batch counter.
std::shared_ptr<Module> make_cnn() {
  return sequential()
      ->add(create_layer("conv2d", {{"in", 3}, {"out", 8}, {"kernel", 3}, {"padding", 1}}))
      ->add(create_layer("batchnorm2d", {{"num_features", 8}}))
      ->add(create_layer("relu"))
      ->add(create_layer("maxpool2d", {{"kernel", 2}}))
      ->add(create_layer("flatten"))
      ->add(create_layer("linear", {{"in", 128}, {"out", 5}}));
}

// [N, T, 6] -> [N, T, 3].
std::shared_ptr<Module> make_lstm() {
  return sequential()
      ->add(create_layer(
          "lstm",
          {{"input_size", 6}, {"hidden_size", 16}, {"num_layers", 2}, {"batch_first", true}}))
      ->add(create_layer("linear", {{"in", 16}, {"out", 3}}));
}

// Copies of the values of a module's state_dict, on the CPU.
NamedTensors snapshot(const Module& m) {
  NamedTensors out;
  for (const auto& [name, t] : m.state_dict()) out.emplace_back(name, t.detach().to(kCPU).clone());
  return out;
}

void check_moves_in_place(const std::shared_ptr<Module>& m) {
  const NamedTensors handles = m->state_dict();  // the same TensorImpls the layers hold
  const NamedTensors before = snapshot(*m);
  REQUIRE(!handles.empty());
  const Tensor first = m->parameters().front();
  first.set_grad(ones_like(first));
  for (const Device& d : {kCuda, kCPU}) {
    m->to(d);
    CHECK(m->device() == d);
    for (size_t i = 0; i < handles.size(); ++i) {
      INFO(handles[i].first << " on " << d.str());
      CHECK(handles[i].second.device() == d);
      CHECK(differs(before[i].second, handles[i].second) == "");
    }
    for (const auto& [name, t] : m->state_dict()) CHECK(t.device() == d);
    CHECK(first.grad().device() == d);
    CHECK(first.requires_grad());
  }
}

struct Trained {
  std::vector<double> losses;
  NamedTensors state;  // after the steps, on the CPU
};

// Two SGD steps (momentum: the second reads the first's buffer) from the same initialisation.
Trained train(const std::function<std::shared_ptr<Module>()>& make, const char* loss_name,
              const Tensor& x, const Tensor& y, Device device) {
  manual_seed(2024);
  std::shared_ptr<Module> model = make();
  model->to(device);
  auto loss_fn = create_layer(loss_name);
  auto opt = create_optimizer("sgd", model->parameters(), {{"lr", 0.05}, {"momentum", 0.9}});
  Trained r;
  const Tensor xd = x.to(device), yd = y.to(device);
  for (int step = 0; step < 2; ++step) {
    opt->zero_grad();
    Tensor loss = loss_fn->forward(model->forward(xd), yd);
    loss.backward();
    opt->step();
    r.losses.push_back(loss.item());
  }
  r.state = snapshot(*model);
  return r;
}

// f32 with TF32 off: the backends differ in summation order only (~1e-6 relative), which two
// steps of SGD carry into the parameters; TF32 (GOM_CUDA_TF32=1) rounds products to 10 bits.
void check_same_training(const std::function<std::shared_ptr<Module>()>& make,
                         const char* loss_name, const Tensor& x, const Tensor& y) {
  const double rtol = gom_gpu_test::tf32() ? 2e-2 : 1e-4, atol = gom_gpu_test::tf32() ? 2e-2 : 2e-5;
  const Trained cpu = train(make, loss_name, x, y, kCPU);
  const Trained gpu = train(make, loss_name, x, y, kCuda);
  REQUIRE(cpu.losses.size() == gpu.losses.size());
  for (size_t i = 0; i < cpu.losses.size(); ++i)
    CHECK(gpu.losses[i] == Approx(cpu.losses[i]).epsilon(rtol).margin(atol));
  REQUIRE(cpu.state.size() == gpu.state.size());
  for (size_t i = 0; i < cpu.state.size(); ++i) {
    INFO(cpu.state[i].first);
    CHECK(gpu.state[i].first == cpu.state[i].first);
    CHECK(differs(cpu.state[i].second, gpu.state[i].second, rtol, atol) == "");
  }
}

}  // namespace

TEST_CASE("Module::to moves every parameter and buffer to cuda:0 and back, in place", "[gpu]") {
  SECTION("an MLP") {
    check_moves_in_place(make_mlp());
  }
  SECTION("a CNN with batch norm (f32 and i64 buffers)") {
    check_moves_in_place(make_cnn());
  }
  SECTION("an LSTM") {
    check_moves_in_place(make_lstm());
  }
}

TEST_CASE("a model moved to cuda:0 runs there and gives the CPU's output", "[gpu]") {
  manual_seed(5);
  auto m = make_cnn();
  m->eval();
  const Tensor x = randn({2, 3, 8, 8});
  const Tensor want = m->forward(x);
  m->to(kCuda);
  const Tensor got = m->forward(x.to(kCuda));
  CHECK(got.device() == kCuda);
  CHECK(differs(want, got, 1e-4, 1e-5) == "");
  CHECK_THROWS_WITH(m->forward(x), Catch::Contains("different devices"));
}

TEST_CASE("training steps on cuda:0 equal the CPU's: MLP", "[gpu][train]") {
  manual_seed(11);
  check_same_training(make_mlp, "cross_entropy", randn({16, 12}), randint(0, 5, {16}));
}

TEST_CASE("training steps on cuda:0 equal the CPU's: CNN with batch norm", "[gpu][train]") {
  manual_seed(12);
  check_same_training(make_cnn, "cross_entropy", randn({6, 3, 8, 8}), randint(0, 5, {6}));
}

TEST_CASE("training steps on cuda:0 equal the CPU's: LSTM", "[gpu][train]") {
  manual_seed(13);
  check_same_training(make_lstm, "mse", randn({4, 7, 6}), randn({4, 7, 3}));
}

TEST_CASE("safetensors saved from a CUDA model load into a CUDA model", "[gpu]") {
  gom_test::TempDir dir;
  manual_seed(21);
  auto source = make_cnn();
  source->to(kCuda);
  {  // a training step, so the running statistics and the batch counter are not the defaults
    Tensor loss =
        create_layer("cross_entropy")
            ->forward(source->forward(randn({4, 3, 8, 8}).to(kCuda)), randint(0, 5, {4}).to(kCuda));
    loss.backward();
  }
  const std::string path = dir / "cnn.safetensors";
  save_safetensors(path, source->state_dict(), {{"device", "cuda:0"}});
  manual_seed(22);  // a different initialisation
  auto target = make_cnn();
  target->to(kCuda);
  const Safetensors file = load_safetensors(path);
  CHECK(file.metadata.at("device") == "cuda:0");
  target->load_state_dict(file.tensors);
  const NamedTensors want = source->state_dict(), got = target->state_dict();
  REQUIRE(want.size() == got.size());
  for (size_t i = 0; i < want.size(); ++i) {
    INFO(want[i].first);
    CHECK(got[i].second.device() == kCuda);
    CHECK(differs(want[i].second, got[i].second) == "");
  }
}
