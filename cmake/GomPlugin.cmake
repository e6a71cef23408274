# gom_add_plugin(NAME SOURCES...): builds libgom_NAME.so as a MODULE against the SDK (gom::gom)
# with hidden visibility, and puts it where the host looks for plugins.
function(gom_add_plugin name)
  set(target gom_${name})
  add_library(${target} MODULE ${ARGN})
  target_link_libraries(${target} PRIVATE gom::gom)
  set_target_properties(${target} PROPERTIES
    CXX_VISIBILITY_PRESET hidden
    VISIBILITY_INLINES_HIDDEN ON
    LIBRARY_OUTPUT_DIRECTORY "${GOM_PLUGIN_OUTPUT_DIR}")
  if(GOM_WARNINGS)
    target_compile_options(${target} PRIVATE ${GOM_WARNINGS})
  endif()
  if(GOM_INSTALL_PLUGIN_DIR)
    install(TARGETS ${target} LIBRARY DESTINATION "${GOM_INSTALL_PLUGIN_DIR}")
  endif()
endfunction()
