/* Which kernels OpenBLAS picked for this CPU (its DYNAMIC_ARCH choice, or OPENBLAS_CORETYPE's).
 * Prints one JSON object. */
#include <stdio.h>

char *openblas_get_corename(void);

int main(void) {
  printf("{\"openblas_core\":\"%s\"}\n", openblas_get_corename());
  return 0;
}
