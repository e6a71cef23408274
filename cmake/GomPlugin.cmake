# gom_add_plugin(NAME SOURCES...): builds libgom_NAME.so as a MODULE against the SDK (gom::gom)
# with hidden visibility, and puts it where the host looks for plugins. The same function serves
# the main build and out-of-tree plugins (find_package(gom) includes this file). It reads:
#   GOM_PLUGIN_OUTPUT_DIR   folder the library is built into
#   GOM_INSTALL_PLUGIN_DIR  folder it is installed to (none: not installed)
#   GOM_WARNINGS            compile options for our own sources (in-tree only)
function(gom_add_plugin name)
  if(NOT ARGN)
    message(FATAL_ERROR "gom_add_plugin(${name}): no sources given; "
                        "usage: gom_add_plugin(NAME SOURCES...)")
  endif()
  set(target gom_${name})
  add_library(${target} MODULE ${ARGN})
  target_link_libraries(${target} PRIVATE gom::gom)
  set_target_properties(${target} PROPERTIES
    CXX_VISIBILITY_PRESET hidden
    VISIBILITY_INLINES_HIDDEN ON
    LIBRARY_OUTPUT_DIRECTORY "${GOM_PLUGIN_OUTPUT_DIR}")
  if(GOM_WARNINGS)
    # C++ sources only: nvcc takes other flags for a plugin's .cu files.
    target_compile_options(${target} PRIVATE "$<$<COMPILE_LANGUAGE:CXX>:${GOM_WARNINGS}>")
  endif()
  if(GOM_INSTALL_PLUGIN_DIR)
    # A folder inside the configured prefix is installed relative to it, so that
    # `cmake --install build --prefix P` puts the plugins under P with the rest of the SDK.
    set(dest "${GOM_INSTALL_PLUGIN_DIR}")
    cmake_path(IS_PREFIX CMAKE_INSTALL_PREFIX "${dest}" NORMALIZE inside_prefix)
    if(IS_ABSOLUTE "${dest}" AND inside_prefix)
      file(RELATIVE_PATH dest "${CMAKE_INSTALL_PREFIX}" "${dest}")
    endif()
    install(TARGETS ${target} LIBRARY DESTINATION "${dest}")
  endif()
endfunction()
