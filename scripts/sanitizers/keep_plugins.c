/* Preloaded into the sanitizer runs only (scripts/sanitize.sh): dlclose does nothing, so the
 * shared objects Open MPI loads as plugins (mca_*.so) stay mapped until exit. LeakSanitizer
 * symbolizes a leak's stack at exit; once Open MPI has dlclose'd its plugins at MPI_Finalize,
 * their frames read "<unknown module>" and no suppression by library can match them. With
 * the plugins kept, scripts/sanitizers/lsan.supp suppresses Open MPI's own allocations by
 * library while a leak with a frame in tpbench still fails the test. */
int dlclose(void* handle) {
  (void)handle;
  return 0;
}
