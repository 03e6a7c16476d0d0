# vsr_app_names(OUT): the bundled apps, one per folder under apps/ that has a
# CMakeLists.txt, sorted. Both apps/ (to build them) and src/app/ (to link them into the
# registry) read this, so adding an app needs no CMake edit.
function(vsr_app_names out)
  file(GLOB entries RELATIVE "${PROJECT_SOURCE_DIR}/apps" CONFIGURE_DEPENDS
       "${PROJECT_SOURCE_DIR}/apps/*/CMakeLists.txt")
  set(names "")
  foreach(entry IN LISTS entries)
    get_filename_component(dir "${entry}" DIRECTORY)
    list(APPEND names "${dir}")
  endforeach()
  list(SORT names)
  set(${out} "${names}" PARENT_SCOPE)
endfunction()
