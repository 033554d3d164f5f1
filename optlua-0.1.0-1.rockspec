-- `luarocks --lua-version 5.4 make` in a checkout builds optlua.so with
-- CMake and installs it into the rock tree's C module directory, as any
-- rock; the program, the engine library and the scripts come with
-- `cmake --install` or the Debian package (README, "Install").
rockspec_format = "3.0"
package = "optlua"
version = "0.1.0-1"
source = {
  url = "git+file://.",
}
description = {
  summary = "Neural network training engine in C, scripted in Lua 5.4",
  detailed = [[
A C engine owns the tensors, layers, optimizers, data loading and the epoch
loop (matrix products through OpenBLAS); Lua decides the model, the
optimizer and the schedules. require "optlua" gives the library table.]],
  license = "MIT",
}
dependencies = {
  "lua >= 5.4, < 5.5",
}
build = {
  type = "cmake",
  variables = {
    CMAKE_BUILD_TYPE = "Release",
    CMAKE_INSTALL_PREFIX = "$(PREFIX)",
    OL_INSTALL = "module",
    OL_LUA_CMOD_DIR = "$(LIBDIR)",
    BUILD_TESTING = "OFF",
  },
}
