# The gateway's network core (included by src/gateway/CMakeLists.txt).
find_package(spdlog REQUIRED)
pkg_check_modules(LIBISCSI IMPORTED_TARGET libiscsi)

vsl_add_library(vsl_gateway
  SOURCES
    ${CMAKE_CURRENT_LIST_DIR}/config.cc
    ${CMAKE_CURRENT_LIST_DIR}/connection.cc
    ${CMAKE_CURRENT_LIST_DIR}/connection_admin.cc
    ${CMAKE_CURRENT_LIST_DIR}/connection_login.cc
    ${CMAKE_CURRENT_LIST_DIR}/connection_qos.cc
    ${CMAKE_CURRENT_LIST_DIR}/connection_scsi.cc
    ${CMAKE_CURRENT_LIST_DIR}/epoll_poller.cc
    ${CMAKE_CURRENT_LIST_DIR}/event_loop.cc
    ${CMAKE_CURRENT_LIST_DIR}/gateway.cc
    ${CMAKE_CURRENT_LIST_DIR}/listener.cc
    ${CMAKE_CURRENT_LIST_DIR}/log.cc
    ${CMAKE_CURRENT_LIST_DIR}/process.cc
    ${CMAKE_CURRENT_LIST_DIR}/qos.cc
    ${CMAKE_CURRENT_LIST_DIR}/segmentation.cc
    ${CMAKE_CURRENT_LIST_DIR}/session_table.cc
    ${CMAKE_CURRENT_LIST_DIR}/stats.cc
    ${CMAKE_CURRENT_LIST_DIR}/write_budget.cc
  DEPS vsl_iscsi vsl_scsi vsl_volume vsl_util nlohmann_json::nlohmann_json spdlog::spdlog
       OpenSSL::Crypto Threads::Threads)

# Pure pieces: no socket, no other helper's library needed beyond headers.
vsl_add_test(gateway_core_test
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/command_window_test.cc
          ${CMAKE_CURRENT_LIST_DIR}/moderation_test.cc
          ${CMAKE_CURRENT_LIST_DIR}/segmentation_test.cc
          ${CMAKE_CURRENT_LIST_DIR}/segmentation.cc
          ${CMAKE_CURRENT_LIST_DIR}/write_budget_test.cc
          ${CMAKE_CURRENT_LIST_DIR}/write_budget.cc
          ${CMAKE_CURRENT_LIST_DIR}/qos_test.cc
          ${CMAKE_CURRENT_LIST_DIR}/qos.cc
  DEPS vsl_util
  LABELS unit-gateway)
vsl_add_test(gateway_config_test
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/config_test.cc
          ${CMAKE_CURRENT_LIST_DIR}/config.cc
  DEPS vsl_util vsl_volume nlohmann_json::nlohmann_json
  LABELS unit-gateway)

if(LIBISCSI_FOUND)
  vsl_add_test(gateway_loopback_test
    SOURCES ${CMAKE_CURRENT_LIST_DIR}/gateway_loopback_test.cc
    DEPS vsl_gateway PkgConfig::LIBISCSI
    LABELS unit-gateway)
endif()

# bench/qos.sh's per-command part alone (not a test).
add_executable(qos_limiter_bench ${PROJECT_SOURCE_DIR}/bench/qos_limiter_bench.cc ${CMAKE_CURRENT_LIST_DIR}/qos.cc)
target_link_libraries(qos_limiter_bench PRIVATE vsl_util Threads::Threads)
target_include_directories(qos_limiter_bench PRIVATE ${PROJECT_SOURCE_DIR}/src)
set_target_properties(qos_limiter_bench PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR})
