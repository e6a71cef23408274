// Checks the out-of-tree swish plugin (built against the installed SDK by out_of_tree.sh):
// loads it from the path given, then compares its forward and its autograd-derived backward with
// the formulas, computed here by hand in double precision.
//   y = x * s,  dy/dx = s + beta * x * s * (1 - s),  s = sigmoid(beta * x)
#include <cmath>
#include <cstdio>
#include <exception>
#include <string>
#include <vector>

#include "gom/gom.h"
#include "gom/layer.h"

namespace {

int failures = 0;

void expect_near(const char* what, double beta, double x, double got, double want) {
  if (std::abs(got - want) <= 1e-5 + 1e-5 * std::abs(want)) return;
  std::fprintf(stderr, "FAIL: swish(beta=%g) %s at x=%g: got %.8f, expected %.8f\n", beta, what, x,
               got, want);
  ++failures;
}

// Runs the layer made from `config` on a few values and checks y and dy/dx against `beta`.
void check(const gom::Config& config, double beta) {
  const std::vector<float> xs{-4.0f, -1.5f, -0.5f, 0.0f, 0.25f, 1.0f, 3.0f};
  auto layer = gom::create_layer("swish", config);
  gom::Tensor x = gom::tensor(xs, {static_cast<int64_t>(xs.size())});
  x.requires_grad_();
  gom::Tensor y = (*layer)(x);
  gom::sum(y).backward();
  const auto ys = y.to_vector<float>(), gs = x.grad().to_vector<float>();
  for (size_t i = 0; i < xs.size(); ++i) {
    const double v = xs[i], s = 1.0 / (1.0 + std::exp(-beta * v));
    expect_near("forward", beta, v, ys[i], v * s);
    expect_near("gradient", beta, v, gs[i], s + beta * v * s * (1.0 - s));
  }
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s PATH/libgom_swish.so\n", argv[0]);
    return 2;
  }
  try {
    gom::init();
    gom::set_num_threads(1);
    gom::load_plugin(argv[1]);
    check({{"beta", 1.0}}, 1.0);
    check({}, 1.0);  // the schema's default
    check({{"beta", 2.5}}, 2.5);
    try {  // the schema is enforced: a string for beta is refused, naming the key
      gom::create_layer("swish", {{"beta", "large"}});
      std::fprintf(stderr, "FAIL: swish accepted beta = \"large\"\n");
      ++failures;
    } catch (const gom::Error& e) {
      if (std::string(e.what()).find("beta") == std::string::npos) {
        std::fprintf(stderr, "FAIL: the error for a bad beta does not name it: %s\n", e.what());
        ++failures;
      }
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "FAIL: %s\n", e.what());
    return 1;
  }
  if (failures) return 1;
  std::printf("swish: forward and gradient match x*sigmoid(beta*x) for beta 1 and 2.5\n");
  return 0;
}
