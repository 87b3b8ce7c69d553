# Per-iteration record field lists (src/report/record_fields.h): IterRecord and IterPhases
# round-trip through pack/unpack, and their JSON keeps the documented keys and types.
tpb_add_test(test_record_fields SOURCES ${CMAKE_CURRENT_LIST_DIR}/record_fields_test.cpp LIBS tpb_train tpb_linear)
