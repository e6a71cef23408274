// A shared library that is not a gom plugin at all.
extern "C" int some_function() {
  return 42;
}
