# GomMpi.cmake — whether libgom speaks MPI (data-parallel training, distributed studies). GOM_MPI:
#   AUTO (default)  on when MPI's C library is found (Debian: libopenmpi-dev)
#   ON              the same, and configuration stops when it is missing
#   OFF             a world of one process; `mpirun gom ...` is then refused with a message
# Sets GOM_WITH_MPI.
set(GOM_MPI AUTO CACHE STRING "Build with MPI: AUTO (when found), ON or OFF")
set_property(CACHE GOM_MPI PROPERTY STRINGS AUTO ON OFF)
if(NOT GOM_MPI MATCHES "^(AUTO|ON|OFF)$")
  message(FATAL_ERROR "GOM_MPI is '${GOM_MPI}': expected AUTO, ON or OFF")
endif()
set(GOM_WITH_MPI OFF)
if(NOT GOM_MPI STREQUAL "OFF")
  enable_language(C)  # FindMPI's C component needs a C compiler to inspect mpicc
  find_package(MPI COMPONENTS C)
  if(MPI_C_FOUND)
    set(GOM_WITH_MPI ON)
    message(STATUS "MPI: on (MPI ${MPI_C_VERSION}, ${MPI_C_LIB_NAMES})")
  elseif(GOM_MPI STREQUAL "ON")
    message(FATAL_ERROR "GOM_MPI=ON, but MPI's C library was not found: install "
                        "libopenmpi-dev, or configure with -DGOM_MPI=OFF")
  else()
    message(STATUS "MPI: off (not found; -DGOM_MPI=ON makes this an error)")
  endif()
endif()
