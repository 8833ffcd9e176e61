# Compiler flags shared by every Phalanx target.
add_compile_options(-Wall -Wextra -Wno-unused-parameter)

# Sanitizers instrument the C and C++ code; CUDA device code (nvcc) is built as usual. UBSan's
# vptr check (dynamic type of every polymorphic access) is left out: it doubles compile times.
set(_phx_host_lang "$<COMPILE_LANGUAGE:C,CXX>")
if(PHALANX_SANITIZE STREQUAL "address")
  add_compile_options("$<${_phx_host_lang}:-fsanitize=address,undefined;-fno-sanitize=vptr;-fno-omit-frame-pointer;-fno-sanitize-recover=undefined>")
  if(CMAKE_CXX_COMPILER_ID MATCHES "Clang")
    # clang's -fsanitize=function flags calls through C callback types of the Debian libraries.
    add_compile_options("$<${_phx_host_lang}:-fno-sanitize=function>")
  endif()
  add_link_options(-fsanitize=address,undefined)
elseif(PHALANX_SANITIZE STREQUAL "thread")
  add_compile_options("$<${_phx_host_lang}:-fsanitize=thread;-fno-omit-frame-pointer>")
  add_link_options(-fsanitize=thread)
elseif(NOT PHALANX_SANITIZE STREQUAL "")
  message(FATAL_ERROR "PHALANX_SANITIZE must be '', 'address' or 'thread'")
endif()

# phx_add_test(NAME SOURCES... LIBS...): one GoogleTest binary registered with CTest.
function(phx_add_test name)
  cmake_parse_arguments(T "" "" "SOURCES;LIBS;LABELS" ${ARGN})
  add_executable(${name} ${T_SOURCES})
  target_link_libraries(${name} PRIVATE ${T_LIBS} GTest::gtest GTest::gtest_main GTest::gmock)
  target_compile_definitions(${name} PRIVATE
    PHX_SHARED_DIR="${PROJECT_SOURCE_DIR}/../shared"
    PHX_SOURCE_DIR="${PROJECT_SOURCE_DIR}")
  add_test(NAME ${name} COMMAND ${name} WORKING_DIRECTORY ${PROJECT_SOURCE_DIR})
  if(T_LABELS)
    set_tests_properties(${name} PROPERTIES LABELS "${T_LABELS}")
  endif()
endfunction()
